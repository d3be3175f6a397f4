// SPDX-License-Identifier: Apache-2.0
// Crash-safe JSON snapshots: temp file in the same directory, fsync, atomic rename, fsync of the directory;
// and an exclusive pid lock file for single-writer stores.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EcpsError } from '@ecps/core';

/**
 * Atomically replaces `path` with `text`.
 * @throws EcpsError IO_ERROR when any step fails (the previous file is then intact).
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may not exist
    }
    throw new EcpsError('IO_ERROR', `cannot save ${path}: ${String(err)}`, { cause: err });
  }
}

/** Reads a file, or undefined when it does not exist. @throws EcpsError IO_ERROR for other read failures. */
export function readFileIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EcpsError('IO_ERROR', `cannot read ${path}: ${String(err)}`, { cause: err });
  }
}

/** An exclusive lock file holding our pid. */
export interface FileLock {
  release(): void;
}

/**
 * Takes `<path>.lock` exclusively; fails fast when another live process holds it (a lock of a dead pid is taken over).
 * @throws EcpsError CONFLICT when the lock is held.
 */
export function acquireLock(path: string): FileLock {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let held = true;
      return {
        release() {
          if (!held) return;
          held = false;
          try {
            unlinkSync(lockPath);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new EcpsError('IO_ERROR', `cannot lock ${path}: ${String(err)}`, { cause: err });
      const pid = Number(readFileIfExists(lockPath) ?? 'NaN');
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) break;
      if (pid === process.pid) break;
      try {
        unlinkSync(lockPath); // stale lock of a dead process
      } catch {
        // raced with another taker
      }
    }
  }
  throw new EcpsError('CONFLICT', `${path} is locked by another writer (${lockPath})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
