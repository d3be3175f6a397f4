// SPDX-License-Identifier: Apache-2.0
// Replacing a file so that a crash leaves either the old or the new content, never a torn or lost one.
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

/**
 * Writes `data` to a temporary file beside `path`, fsyncs it, renames it over `path`, then fsyncs the directory so
 * the rename itself survives a power cut. The temporary file is removed when any step fails.
 * @throws the `node:fs` error of the step that failed.
 */
export async function writeFileDurably(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const file = await open(tmp, 'w', mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
