// SPDX-License-Identifier: Apache-2.0
import { isEcpsError, type EcpsErrorCode } from '@ecps/core';

/** Awaits `promise` and asserts that it rejects with an ECPS error of `code`. */
export async function expectCode(promise: Promise<unknown>, code: EcpsErrorCode): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  if (!isEcpsError(error, code)) throw new Error(`expected ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
}
