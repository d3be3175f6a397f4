// SPDX-License-Identifier: Apache-2.0
// An exclusive cross-process lock: a directory `<file>.lock` that names its owner (host, pid and start time), refreshed
// every 5 s and taken over when it has not been refreshed for 10 s, or at once when its owner on this host is dead.
import { hostname } from 'node:os';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { cryptoRandom, systemClock, toHex, type Clock } from '@ecps/core';
import { CodexError } from './errors';
import { isSameProcess, processStartTime } from './process-identity';

export interface LockOwner {
  host: string;
  pid: number;
  start_time: number | null;
  acquired_at: string;
}

export interface FileLockOptions {
  refreshMs?: number;
  staleMs?: number;
  clock?: Clock;
  /** Called when the lock was taken from us (we were not refreshing it for longer than `staleMs`). */
  onCompromised?: (error: CodexError) => void;
}

/** A held lock. `release` is idempotent and removes the directory only while it is still ours. */
export interface FileLock {
  readonly path: string;
  /** Throws `CodexError` `registry_locked` when another process has taken the lock over. */
  assertHeld(): void;
  release(): Promise<void>;
}

/**
 * Takes the lock of `file`, taking over a stale one (not refreshed for `staleMs`, or owned by a process of this host
 * that no longer exists: a crashed server's successor need not wait). Throws `CodexError` `registry_locked` ("registry locked by pid N") while another live
 * owner refreshes it, `storage_unavailable` when the directory cannot be created.
 */
export async function acquireFileLock(file: string, options: FileLockOptions = {}): Promise<FileLock> {
  const clock = options.clock ?? systemClock;
  const refreshMs = options.refreshMs ?? 5_000;
  const staleMs = options.staleMs ?? 10_000;
  const path = `${file}.lock`;
  const owner: LockOwner = { host: hostname(), pid: process.pid, start_time: await processStartTime(process.pid), acquired_at: new Date(clock.now()).toISOString() };

  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(path);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new CodexError('storage_unavailable', `cannot create lock ${path}`, { cause: error });
    }
    const held = await readLock(path);
    const fresh = held.mtimeMs !== null && clock.now() - held.mtimeMs <= staleMs && !(await ownerIsDead(held.owner));
    if (fresh || attempt >= 2) {
      throw new CodexError('registry_locked', `registry locked by pid ${held.owner?.pid ?? 'unknown'}`, { details: { pid: held.owner?.pid ?? null, lock: path } });
    }
    // Stale: move it aside atomically (only one contender wins the rename), then try again.
    const aside = `${path}.stale-${toHex(cryptoRandom.bytes(4))}`;
    await rename(path, aside).then(() => rm(aside, { recursive: true, force: true }), () => {});
  }
  await writeFile(`${path}/owner.json`, JSON.stringify(owner));

  let lost: CodexError | null = null;
  let released = false;
  const isOurs = async () => {
    const held = await readLock(path);
    return held.owner?.pid === owner.pid && held.owner.acquired_at === owner.acquired_at;
  };
  const refresh = async () => {
    if (released || lost) return;
    if (await isOurs()) {
      const now = new Date(clock.now());
      await utimes(path, now, now).catch(() => {});
      timer = clock.setTimeout(() => void refresh(), refreshMs);
      return;
    }
    lost = new CodexError('registry_locked', `registry lock ${path} was taken over by another process`);
    options.onCompromised?.(lost);
  };
  let timer = clock.setTimeout(() => void refresh(), refreshMs);

  return {
    path,
    assertHeld() {
      if (lost) throw lost;
    },
    async release() {
      if (released) return;
      released = true;
      clock.clearTimeout(timer);
      if (!lost && (await isOurs())) await rm(path, { recursive: true, force: true });
    },
  };
}

/** True only when the owner is known to have run on this host and that process (pid and start time) is gone. */
async function ownerIsDead(owner: LockOwner | null): Promise<boolean> {
  if (!owner || owner.host !== hostname() || owner.start_time === null) return false;
  return !(await isSameProcess(owner.pid, owner.start_time));
}

async function readLock(path: string): Promise<{ owner: LockOwner | null; mtimeMs: number | null }> {
  let mtimeMs: number | null = null;
  try {
    mtimeMs = (await stat(path)).mtimeMs;
  } catch {
    return { owner: null, mtimeMs: null };
  }
  try {
    return { owner: JSON.parse(await readFile(`${path}/owner.json`, 'utf8')) as LockOwner, mtimeMs };
  } catch {
    return { owner: null, mtimeMs }; // being created right now, or torn by a crash
  }
}
