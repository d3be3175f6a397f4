// SPDX-License-Identifier: Apache-2.0
// File helpers with typed errors: whole-file reads and atomic replacement (temp file, fsync, rename).
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { EcpsError } from '@ecps/core';

/** Reads a whole file. Throws `NOT_FOUND` or `IO_ERROR`. */
export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR';
    throw new EcpsError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
}

/** Writes `bytes` to `path` atomically: a reader sees the old file or the whole new one. Throws `IO_ERROR`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (cause) {
    await unlink(temp).catch(() => undefined);
    throw new EcpsError('IO_ERROR', `cannot write ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
}

/** Reads a whole file in chunks, reporting bytes read (for progress bars). Throws like {@link readBytes}. */
export async function readBytesWithProgress(path: string, onProgress: (done: number, total: number) => void): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR';
    throw new EcpsError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
  try {
    const { size } = await handle.stat();
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(out, done, Math.min(4 * 1024 * 1024, size - done), done);
      if (bytesRead === 0) break;
      done += bytesRead;
      onProgress(done, size);
    }
    return done === size ? out : out.subarray(0, done);
  } catch (cause) {
    throw new EcpsError('IO_ERROR', `cannot read ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  } finally {
    await handle.close();
  }
}
