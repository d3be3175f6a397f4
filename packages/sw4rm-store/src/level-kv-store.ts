// SPDX-License-Identifier: Apache-2.0
// LevelDB (classic-level) behind the KvStore contract of @ecps/sw4rm. Group commit: every commit queued while a
// write is in flight goes out in the next single atomic batch with sync=true (one fsync of the LevelDB log for all
// of them), batches are written in call order, and a caller resumes only once its batch is on disk.
import { ClassicLevel } from 'classic-level';
import { EcpsError } from '@ecps/core';
import type { KvOp, KvStore } from '@ecps/sw4rm';

interface Pending {
  ops: readonly KvOp[];
  durable: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

/** A LevelDB store. Open with {@link LevelKvStore.open}. */
export class LevelKvStore implements KvStore {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** Batches written so far. */
  batches = 0;
  /** Batches written with sync (one fsync of the LevelDB log each, however many durable commits they carry). */
  fsyncs = 0;

  private constructor(
    private readonly db: ClassicLevel<string, Uint8Array>,
    readonly path: string,
  ) {}

  /**
   * Opens (creating if missing) the LevelDB directory at `path`.
   * @throws EcpsError IO_ERROR when it cannot be opened (e.g. another process holds it).
   */
  static async open(path: string): Promise<LevelKvStore> {
    const db = new ClassicLevel<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      throw new EcpsError('IO_ERROR', `cannot open store ${path}: ${String((err as Error).cause ?? err)}`, { cause: err });
    }
    return new LevelKvStore(db, path);
  }

  async load(prefix: string): Promise<[string, Uint8Array][]> {
    if (this.state !== 'open') throw new EcpsError('IO_ERROR', `store ${this.path} is closed`);
    const out: [string, Uint8Array][] = [];
    try {
      // '\uffff' sorts after every key with this prefix (keys are UTF-8 text)
      for await (const [key, value] of this.db.iterator({ gte: prefix, lt: `${prefix}\uffff` })) out.push([key, value]);
    } catch (err) {
      throw new EcpsError('IO_ERROR', `cannot read store ${this.path}: ${String(err)}`, { cause: err });
    }
    return out;
  }

  commit(ops: readonly KvOp[], durable = true): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new EcpsError('IO_ERROR', `store ${this.path} is closed`));
    if (ops.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, durable, resolve, reject });
      // start on the next turn of the event loop, so that commits issued by the requests read in this turn (many
      // senders' messages and acks arrive together) share one batch instead of the first paying an fsync alone
      this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
    });
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    while (this.flushing) await this.flushing;
    this.state = 'closed';
    await this.db.close();
  }

  /**
   * What `kill -9` leaves behind, for crash tests: commits not yet handed to LevelDB are dropped (their callers
   * never hear back), then the handle is released without waiting for anything queued.
   */
  async abandon(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.queue = [];
    await this.flushing?.catch(() => undefined);
    await this.db.close();
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length) {
        const group = this.queue;
        this.queue = [];
        try {
          const batch = this.db.batch();
          for (const { ops } of group) {
            for (const op of ops) {
              if (op.type === 'put') batch.put(op.key, op.value);
              else batch.del(op.key);
            }
          }
          const sync = group.some((g) => g.durable);
          await batch.write({ sync });
          this.batches++;
          if (sync) this.fsyncs++;
        } catch (err) {
          const e = new EcpsError('IO_ERROR', `store ${this.path} write failed: ${String(err)}`, { cause: err });
          for (const g of group) g.reject(e);
          continue;
        }
        // an abandoned store never answers: the process "died" before these writes were acknowledged
        if (this.state === 'closed') return;
        for (const g of group) g.resolve();
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
