// SPDX-License-Identifier: Apache-2.0
// MepSnapshot on disk: protobuf bytes written atomically (temp file, fsync, rename, fsync of the directory).
import { readFile } from 'node:fs/promises';
import { writeFileDurable } from '@ecps/core/internal';
import { EcpsError, ValidationError } from '@ecps/core';
import { MepSnapshot } from '@ecps/proto/ext/v1';

/**
 * Writes `snapshot` to `path` so that a crash leaves either the old file or the new one, never a torn mix.
 * Throws `IO_ERROR` when the file system refuses.
 */
export async function writeSnapshotFile(path: string, snapshot: MepSnapshot): Promise<void> {
  await writeFileDurable(path, MepSnapshot.encode(snapshot).finish(), { mode: 0o600 });
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
