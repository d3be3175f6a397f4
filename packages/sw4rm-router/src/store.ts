// SPDX-License-Identifier: Apache-2.0
// The router's durable state in LevelDB (classic-level). Everything lives in memory too; the database is the
// write-ahead truth. Writes are grouped: every queued change goes out in one atomic batch with sync=true (fsync
// of the LevelDB log) and callers resume only after it is on disk, so a response never reports an uncommitted row.
import { ClassicLevel } from 'classic-level';
import { EcpsError } from '@ecps/core';

/** A delivery row: one recipient's copy of one envelope. */
export interface DeliveryRow {
  seq: bigint;
  recipient: string;
  /** The envelope bytes exactly as received (unknown fields preserved). */
  envelope: Uint8Array;
  messageId: string;
  producerId: string;
  correlationId: string;
  /** `nack` rows are router NACKs queued for a producer (own capacity cap). */
  kind: 'msg' | 'nack';
  enqueuedAt: number;
  /** 0 = never. */
  expiresAt: number;
  attempts: number;
  state: 'PENDING' | 'IN_FLIGHT';
  yieldedAt: number;
}

/** A dedup record: `(producer, key)` → original message id. */
export interface DedupRecord {
  original: string;
  acceptedAt: number;
}

/** One change of a batch. */
export type StoreOp =
  | { type: 'row'; row: DeliveryRow }
  | { type: 'delRow'; seq: bigint }
  | { type: 'agent'; agentId: string }
  | { type: 'dedup'; key: string; record: DedupRecord }
  | { type: 'delDedup'; key: string }
  | { type: 'seq'; highWater: bigint };

/** What a reopened store holds. */
export interface StoreSnapshot {
  rows: DeliveryRow[];
  agents: string[];
  dedup: Map<string, DedupRecord>;
  highWater: bigint;
}

const pad = (seq: bigint) => seq.toString().padStart(20, '0');

interface RowJson {
  r: string;
  e: string;
  m: string;
  p: string;
  c: string;
  k: 'msg' | 'nack';
  q: number;
  x: number;
  a: number;
}

/** LevelDB-backed durable store with group commit. */
export class RouterStore {
  private queue: { ops: StoreOp[]; sync: boolean; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  private constructor(private readonly db: ClassicLevel<string, string>) {}

  /**
   * Opens (creating if missing) the store at `path` (a directory) and reads everything back.
   * @throws EcpsError IO_ERROR when LevelDB cannot open it (e.g. locked by another router process).
   */
  static async open(path: string): Promise<{ store: RouterStore; snapshot: StoreSnapshot }> {
    const db = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (err) {
      throw new EcpsError('IO_ERROR', `cannot open router store ${path}: ${String((err as Error).cause ?? err)}`, { cause: err });
    }
    const snapshot: StoreSnapshot = { rows: [], agents: [], dedup: new Map(), highWater: 0n };
    for await (const [key, value] of db.iterator()) {
      if (key.startsWith('row:')) {
        const j = JSON.parse(value) as RowJson;
        const seq = BigInt(key.slice(4));
        snapshot.rows.push({
          seq,
          recipient: j.r,
          envelope: new Uint8Array(Buffer.from(j.e, 'base64')),
          messageId: j.m,
          producerId: j.p,
          correlationId: j.c,
          kind: j.k,
          enqueuedAt: j.q,
          expiresAt: j.x,
          attempts: j.a,
          state: 'PENDING', // restart: IN_FLIGHT → PENDING
          yieldedAt: 0,
        });
        if (seq > snapshot.highWater) snapshot.highWater = seq;
      } else if (key.startsWith('agent:')) snapshot.agents.push(key.slice(6));
      else if (key.startsWith('dedup:')) snapshot.dedup.set(key.slice(6), JSON.parse(value) as DedupRecord);
      else if (key === 'meta:seq') {
        const hw = BigInt(value);
        if (hw > snapshot.highWater) snapshot.highWater = hw;
      }
    }
    return { store: new RouterStore(db), snapshot };
  }

  /**
   * Commits `ops` atomically. `sync` (default) waits for fsync; bookkeeping that may be lost in a crash
   * (delivery attempt counters) passes false. Batches commit in call order.
   * @throws EcpsError IO_ERROR when the write fails.
   */
  commit(ops: StoreOp[], sync = true): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, sync, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** Resolves once every queued write is committed. */
  async idle(): Promise<void> {
    while (this.flushing || this.queue.length) await new Promise((r) => setImmediate(r));
  }

  /** Waits for pending writes and closes LevelDB. */
  async close(): Promise<void> {
    await this.idle();
    await this.db.close();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length) {
      const group = this.queue;
      this.queue = [];
      const batch = this.db.batch();
      for (const { ops } of group) for (const op of ops) apply(batch, op);
      try {
        await batch.write({ sync: group.some((g) => g.sync) });
        for (const g of group) g.resolve();
      } catch (err) {
        const e = new EcpsError('IO_ERROR', `router store write failed: ${String(err)}`, { cause: err });
        for (const g of group) g.reject(e);
      }
    }
    this.flushing = false;
  }
}

function apply(batch: ReturnType<ClassicLevel<string, string>['batch']>, op: StoreOp): void {
  switch (op.type) {
    case 'row': {
      const r = op.row;
      const j: RowJson = {
        r: r.recipient,
        e: Buffer.from(r.envelope).toString('base64'),
        m: r.messageId,
        p: r.producerId,
        c: r.correlationId,
        k: r.kind,
        q: r.enqueuedAt,
        x: r.expiresAt,
        a: r.attempts,
      };
      batch.put(`row:${pad(r.seq)}`, JSON.stringify(j));
      break;
    }
    case 'delRow':
      batch.del(`row:${pad(op.seq)}`);
      break;
    case 'agent':
      batch.put(`agent:${op.agentId}`, '');
      break;
    case 'dedup':
      batch.put(`dedup:${op.key}`, JSON.stringify(op.record));
      break;
    case 'delDedup':
      batch.del(`dedup:${op.key}`);
      break;
    case 'seq':
      batch.put('meta:seq', op.highWater.toString());
      break;
  }
}
