// SPDX-License-Identifier: Apache-2.0
// Fuzz target for the reader (Jazzer.js-style `fuzz(data)` entry point, also driven by the property tests):
// any input either parses or fails with a typed EcpsError; nothing else may escape.
import { isEcpsError } from '@ecps/core';
import { decodeMessages } from './decode';
import { parseEaplog } from './reader';
import { validateBytes } from './validate';

/** Parses, decodes and validates arbitrary bytes; throws only when a non-ECPS error escapes. */
export async function fuzz(data: Uint8Array): Promise<void> {
  try {
    const parsed = parseEaplog(data, { maxRecordBytes: 1 << 20 });
    await decodeMessages(parsed);
  } catch (error) {
    if (!isEcpsError(error)) throw error;
  }
  const report = await validateBytes(data, { verify: true });
  if (report.exitCode !== 0 && report.exitCode !== 1) throw new Error('validate returned an impossible exit code');
}
