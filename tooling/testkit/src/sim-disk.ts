// SPDX-License-Identifier: Apache-2.0
// A simulated disk for crash tests: writes land in a "page cache" and become durable only when synced; directory
// changes (creations, renames, removals) only when the directory is synced. A crash keeps what was durable, plus
// a random prefix of the unsynced bytes of each file (the last write may be torn) and a random prefix of the
// unsynced directory changes (metadata is journaled in order). Syncs take virtual time on the caller's scheduler.
import type { RandomSource } from '@ecps/core';

/** The shape of `@ecps/raft`'s `Disk` (kept structural so the testkit does not depend on raft). */
export interface SimDiskFile {
  append(data: Uint8Array): void;
  sync(): Promise<void>;
  close(): void;
}

interface Inode {
  chunks: Uint8Array[];
  length: number;
  /** What survives a crash for sure. */
  durable: Uint8Array[];
  durableLength: number;
}

type DirOp = { kind: 'link'; path: string; inode: Inode } | { kind: 'unlink'; path: string };

export interface SimDiskOptions {
  /** Runs `fn` after `delayMs` of (virtual) time. */
  readonly schedule: (delayMs: number, fn: () => void) => void;
  readonly random: RandomSource;
  /** Time an fsync takes. Default 1 ms. */
  readonly syncLatencyMs?: number;
}

/** Counters proving the disk did something (for tests). */
export interface SimDiskStats {
  syncs: number;
  dirSyncs: number;
  crashes: number;
  /** Unsynced bytes lost by crashes. */
  lostBytes: number;
  /** Crashes that kept part of an unsynced write (a torn write). */
  tornWrites: number;
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && (chunks[0] as Uint8Array).length === length) return chunks[0] as Uint8Array;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c.subarray(0, Math.min(c.length, length - at)), at);
    at += c.length;
    if (at >= length) break;
  }
  return out;
}

/**
 * One machine's disk. Every path is absolute and flat within its directory. After {@link crash}, the handles and
 * pending syncs of the previous incarnation are dead: their operations do nothing and their syncs never resolve.
 */
export class SimDisk {
  readonly stats: SimDiskStats = { syncs: 0, dirSyncs: 0, crashes: 0, lostBytes: 0, tornWrites: 0 };
  /** Names as the running process sees them. */
  private names = new Map<string, Inode>();
  /** Names as they are on disk for sure. */
  private durableNames = new Map<string, Inode>();
  /** Directory changes not yet synced, in order. */
  private pendingOps: DirOp[] = [];
  private generation = 0;

  constructor(private readonly options: SimDiskOptions) {}

  mkdirp(_dir: string): void {}

  list(dir: string): string[] {
    const prefix = `${dir}/`;
    return [...this.names.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length)).sort();
  }

  read(path: string): Uint8Array | undefined {
    const inode = this.names.get(path);
    return inode ? concat(inode.chunks, inode.length).slice() : undefined;
  }

  openAppend(path: string): SimDiskFile {
    const gen = this.generation;
    let inode = this.names.get(path);
    if (!inode) {
      inode = { chunks: [], length: 0, durable: [], durableLength: 0 };
      this.link(path, inode);
    }
    const file = inode;
    let closed = false;
    const badFd = () => Object.assign(new Error(`EBADF: bad file descriptor (${path} is closed)`), { code: 'EBADF' });
    return {
      append: (data) => {
        if (closed) throw badFd();
        if (gen !== this.generation) return;
        file.chunks.push(data.slice());
        file.length += data.length;
      },
      // like fdatasync on a closed descriptor, also when the close comes while the sync is queued
      sync: () => (closed ? Promise.reject(badFd()) : this.syncInode(file, gen, () => closed)),
      close: () => {
        closed = true;
      },
    };
  }

  async writeDurably(path: string, data: Uint8Array): Promise<void> {
    const gen = this.generation;
    const inode: Inode = { chunks: [data.slice()], length: data.length, durable: [], durableLength: 0 };
    this.link(path, inode);
    await this.syncInode(inode, gen);
  }

  rename(from: string, to: string): void {
    const inode = this.names.get(from);
    if (!inode) throw Object.assign(new Error(`ENOENT: ${from}`), { code: 'ENOENT' });
    this.unlink(from);
    this.link(to, inode);
  }

  remove(path: string): void {
    if (this.names.has(path)) this.unlink(path);
  }

  truncate(path: string, length: number): void {
    const inode = this.names.get(path);
    if (!inode) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    const data = concat(inode.chunks, inode.length).slice(0, length);
    inode.chunks = [data];
    inode.length = data.length;
  }

  syncDir(dir: string): Promise<void> {
    const gen = this.generation;
    const upTo = this.pendingOps.length;
    return this.later(gen, () => {
      // a directory sync makes every earlier change in that directory durable (and, journaled in order, all before it)
      const ops = this.pendingOps.splice(0, upTo);
      for (const op of ops) this.applyDurably(op);
      this.stats.dirSyncs++;
      void dir;
    });
  }

  /**
   * The machine crashes: every file keeps its durable bytes plus a random prefix of its unsynced ones (possibly
   * cutting a write in half), and a random prefix of the unsynced directory changes survives. Handles of the old
   * incarnation die.
   */
  crash(): void {
    this.generation++;
    this.stats.crashes++;
    const random = this.options.random;
    const keepOps = this.pendingOps.length === 0 ? 0 : random.int(this.pendingOps.length + 1);
    for (const op of this.pendingOps.slice(0, keepOps)) this.applyDurably(op);
    this.pendingOps = [];
    for (const inode of new Set(this.durableNames.values())) {
      const current = concat(inode.chunks, inode.length);
      const durable = concat(inode.durable, inode.durableLength);
      let survived = durable;
      if (current.length > durable.length && startsWith(current, durable)) {
        const extra = current.length - durable.length;
        const kept = random.int(extra + 1);
        if (kept > 0 && kept < extra) this.stats.tornWrites++;
        this.stats.lostBytes += extra - kept;
        survived = current.slice(0, durable.length + kept);
      }
      inode.chunks = [survived];
      inode.length = survived.length;
      inode.durable = [survived];
      inode.durableLength = survived.length;
    }
    this.names = new Map(this.durableNames);
  }

  private syncInode(inode: Inode, gen: number, closed: () => boolean = () => false): Promise<void> {
    const chunks = [...inode.chunks];
    const length = inode.length;
    return this.later(gen, () => {
      if (closed()) throw Object.assign(new Error('EBADF: bad file descriptor (closed during the sync)'), { code: 'EBADF' });
      inode.durable = chunks;
      inode.durableLength = length;
      this.stats.syncs++;
    });
  }

  /** Resolves after the sync latency unless the machine crashed meanwhile (then never); rejects if `effect` throws. */
  private later(gen: number, effect: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.options.schedule(this.options.syncLatencyMs ?? 1, () => {
        if (gen !== this.generation) return;
        try {
          effect();
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  private link(path: string, inode: Inode): void {
    this.names.set(path, inode);
    this.pendingOps.push({ kind: 'link', path, inode });
  }

  private unlink(path: string): void {
    this.names.delete(path);
    this.pendingOps.push({ kind: 'unlink', path });
  }

  private applyDurably(op: DirOp): void {
    if (op.kind === 'link') this.durableNames.set(op.path, op.inode);
    else this.durableNames.delete(op.path);
  }
}

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > a.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}
