// SPDX-License-Identifier: Apache-2.0
// MepSnapshot on disk: protobuf bytes written atomically (temp file, fsync, rename, fsync of the directory).
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EcpsError, ValidationError } from '@ecps/core';
import { MepSnapshot } from '@ecps/proto/ext/v1';

/**
 * Writes `snapshot` to `path` so that a crash leaves either the old file or the new one, never a torn mix.
 * Throws `IO_ERROR` when the file system refuses.
 */
export async function writeSnapshotFile(path: string, snapshot: MepSnapshot): Promise<void> {
  const bytes = MepSnapshot.encode(snapshot).finish();
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new EcpsError('IO_ERROR', `cannot write MEP snapshot ${path}`, { cause });
  }
}

/** Reads a snapshot file. Throws `IO_ERROR` when it cannot be read, `DECODE_ERROR` when it is not a MepSnapshot. */
export async function readSnapshotFile(path: string): Promise<MepSnapshot> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new EcpsError('IO_ERROR', `cannot read MEP snapshot ${path}`, { cause });
  }
  try {
    return MepSnapshot.decode(bytes);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', `${path} is not a MepSnapshot`, { cause });
  }
}
