// SPDX-License-Identifier: Apache-2.0
// Durable replacement of a file: temp file → write → fsync → close → rename → directory fsync.
import { close, fsync, open, rename, unlink, write } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { cryptoRandom, toHex, type RandomSource } from '@ecps/core';
import { CodexError } from './errors';

/** The file-system calls an atomic write makes, one per step, so a test can record them or fail any of them. */
export interface DurableFs {
  open(path: string, flags: string, mode?: number): Promise<number>;
  write(fd: number, data: Uint8Array): Promise<void>;
  fsync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

const writeAsync = promisify(write);
/** The real file system. */
export const nodeDurableFs: DurableFs = {
  open: promisify(open) as (path: string, flags: string, mode?: number) => Promise<number>,
  async write(fd, data) {
    for (let offset = 0; offset < data.length; ) offset += (await writeAsync(fd, data, offset, data.length - offset)).bytesWritten;
  },
  fsync: promisify(fsync),
  close: promisify(close),
  rename: promisify(rename),
  unlink: promisify(unlink),
};

/** True for the temp files {@link atomicWriteFile} creates for `target` (left behind only by a crash). */
export function isTempFileOf(target: string, name: string): boolean {
  return name.startsWith(`.${basename(target)}.`) && name.endsWith('.tmp');
}

/**
 * Replaces `target` with `data` so that after a crash at any point the file holds either the old or the new content:
 * (1) open `.<base>.<pid>.<rand>.tmp` exclusively with mode 0600, (2) write everything, fsync and close,
 * (3) rename over `target`, (4) fsync the directory so the rename itself survives a power loss.
 * On any failure the temp file is removed and `CodexError` `storage_unavailable` is thrown.
 */
export async function atomicWriteFile(target: string, data: Uint8Array, options: { fs?: DurableFs; random?: RandomSource } = {}): Promise<void> {
  const fs = options.fs ?? nodeDurableFs;
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${toHex((options.random ?? cryptoRandom).bytes(6))}.tmp`);
  let renamed = false;
  try {
    const fd = await fs.open(temp, 'wx', 0o600);
    try {
      await fs.write(fd, data);
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
    await fs.rename(temp, target);
    renamed = true;
    const dirFd = await fs.open(dir, 'r');
    try {
      await fs.fsync(dirFd);
    } finally {
      await fs.close(dirFd);
    }
  } catch (cause) {
    if (!renamed) await fs.unlink(temp).catch(() => {});
    throw new CodexError('storage_unavailable', `cannot write ${target}`, { cause });
  }
}
