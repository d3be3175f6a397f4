// SPDX-License-Identifier: Apache-2.0
// A simulated disk for crash tests: writes land in a "page cache" and become durable only when synced; directory
// changes (creations, renames, removals) only when the directory is synced. A crash keeps what was durable, plus
// the bytes of a random prefix of the unsynced writes of each file (the last one may be torn; writes are positional,
// so a lost write over a preallocated region leaves what was there) and a random prefix of the
// unsynced directory changes (metadata is journaled in order). Syncs take virtual time on the caller's scheduler.
import type { RandomSource } from '@ecps/core';

/** The shape of `@ecps/raft`'s `Disk` (kept structural so the testkit does not depend on raft). */
export interface SimDiskFile {
  write(data: Uint8Array, position: number): void;
  sync(): Promise<void>;
  close(): void;
}

interface Inode {
  /** The file as the running process sees it. */
  data: Uint8Array;
  /** What survives a crash for sure. */
  durable: Uint8Array;
  /** Writes since the last completed sync, in order. */
  pending: { position: number; data: Uint8Array }[];
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

/** `image` with `data` written at `position` (a new array when it grows). */
function written(image: Uint8Array, data: Uint8Array, position: number): Uint8Array {
  let out = image;
  if (position + data.length > image.length) {
    out = new Uint8Array(position + data.length);
    out.set(image);
  }
  out.set(data, position);
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
    return this.names.get(path)?.data.slice();
  }

  open(path: string): SimDiskFile {
    const gen = this.generation;
    let inode = this.names.get(path);
    if (!inode) {
      inode = { data: new Uint8Array(0), durable: new Uint8Array(0), pending: [] };
      this.link(path, inode);
    }
    const file = inode;
    let closed = false;
    const badFd = () => Object.assign(new Error(`EBADF: bad file descriptor (${path} is closed)`), { code: 'EBADF' });
    return {
      write: (data, position) => {
        if (closed) throw badFd();
        if (gen !== this.generation) return;
        const copy = data.slice();
        file.data = written(file.data, copy, position);
        file.pending.push({ position, data: copy });
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
    const inode: Inode = { data: data.slice(), durable: new Uint8Array(0), pending: [{ position: 0, data: data.slice() }] };
    this.link(path, inode);
    await this.syncInode(inode, gen);
  }

  /** Creates `path` holding `bytes` zeros, durably (contents and directory entry). */
  async preallocate(path: string, bytes: number): Promise<void> {
    await this.writeDurably(path, new Uint8Array(bytes));
    await this.syncDir(path.slice(0, path.lastIndexOf('/')));
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
   * The machine crashes: every file keeps its durable bytes plus a random prefix of its unsynced writes (possibly
   * cutting the last one in half), and a random prefix of the unsynced directory changes survives. Handles of the old
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
      const extra = inode.pending.reduce((n, w) => n + w.data.length, 0);
      let kept = extra === 0 ? 0 : random.int(extra + 1);
      if (kept > 0 && kept < extra) this.stats.tornWrites++;
      this.stats.lostBytes += extra - kept;
      let survived: Uint8Array = inode.durable.slice();
      for (const w of inode.pending) {
        if (kept <= 0) break;
        survived = written(survived, w.data.subarray(0, Math.min(kept, w.data.length)), w.position);
        kept -= w.data.length;
      }
      inode.data = survived;
      inode.durable = survived.slice();
      inode.pending = [];
    }
    this.names = new Map(this.durableNames);
  }

  private syncInode(inode: Inode, gen: number, closed: () => boolean = () => false): Promise<void> {
    const image = inode.data.slice();
    const upTo = inode.pending.length;
    return this.later(gen, () => {
      if (closed()) throw Object.assign(new Error('EBADF: bad file descriptor (closed during the sync)'), { code: 'EBADF' });
      inode.durable = image;
      inode.pending.splice(0, upTo);
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
