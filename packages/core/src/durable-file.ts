// SPDX-License-Identifier: Apache-2.0
// Writing a file so that it survives a crash and a power loss: temp file, write, fsync, rename over the target,
// fsync of the directory (the rename itself lives in the directory). Node only.
import * as nodeFs from 'node:fs/promises';
import { dirname } from 'node:path';
import { EcpsError } from './errors';

/** The file-system calls a durable write makes; `node:fs/promises` is one. Injectable so tests can see the order. */
export interface DurableFs {
  open(path: string, flags: string, mode?: number): Promise<DurableFileHandle>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: true }): Promise<void>;
}

export interface DurableFileHandle {
  writeFile(data: Uint8Array | string): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface DurableWriteOptions {
  /** File mode of a new file (default 0o644; use 0o600 for secrets). */
  mode?: number;
  fs?: DurableFs;
}

/** Temporary files of {@link writeFileDurable} end with this; a directory owned by one writer may remove leftovers. */
export const DURABLE_TEMP_SUFFIX = '.tmp';

let counter = 0;

/**
 * Replaces `path` with `data` so that after a crash or a power loss a reader finds the old file or the whole new
 * one: writes `<path>.<pid>.<n>.tmp`, fsyncs it, renames it over `path`, then fsyncs the directory. Resolves only
 * when all of that is done. Throws `IO_ERROR` (the temporary file is removed).
 */
export async function writeFileDurable(path: string, data: Uint8Array | string, options: DurableWriteOptions = {}): Promise<void> {
  const fs = options.fs ?? (nodeFs as unknown as DurableFs);
  const temp = `${path}.${process.pid}.${++counter}${DURABLE_TEMP_SUFFIX}`;
  try {
    const file = await fs.open(temp, 'w', options.mode ?? 0o644);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(temp, path);
  } catch (cause) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new EcpsError('IO_ERROR', `cannot write ${path}: ${(cause as Error)?.message ?? String(cause)}`, { cause, details: { path } });
  }
  await syncDirectory(dirname(path), fs);
}

/**
 * Fsyncs a directory, making renames, creations and removals in it durable. File systems that cannot sync a
 * directory (`EINVAL`, `EISDIR`, `EPERM`, `ENOTSUP`: some network and Windows file systems) are let be; any
 * other failure throws `IO_ERROR`.
 */
export async function syncDirectory(dir: string, fs: DurableFs = nodeFs as unknown as DurableFs): Promise<void> {
  let handle: DurableFileHandle;
  try {
    handle = await fs.open(dir, 'r');
  } catch (cause) {
    if (unsyncable(cause)) return;
    throw new EcpsError('IO_ERROR', `cannot open directory ${dir}`, { cause, details: { path: dir } });
  }
  try {
    await handle.sync();
  } catch (cause) {
    if (!unsyncable(cause)) throw new EcpsError('IO_ERROR', `cannot sync directory ${dir}`, { cause, details: { path: dir } });
  } finally {
    await handle.close();
  }
}

function unsyncable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EINVAL' || code === 'EISDIR' || code === 'EPERM' || code === 'ENOTSUP';
}
