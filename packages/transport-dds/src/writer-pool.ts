// SPDX-License-Identifier: Apache-2.0
// The DDS writers of one transport: one per (topic, traffic class, reliability level), created on first use and
// closed least-recently-used first beyond a bound. Writes never block the event loop: a full writer history (or a
// congested reader in this process) parks the write, in order, and with no timer: a full history is retried as
// soon as a worker thread sees the readers acknowledge (dds_wait_for_acks off the JavaScript thread), a congested
// local reader wakes its writers when it drains. Past `maxPending` parked writes a publish fails with QUEUE_FULL.
//
// Writes issued one after another to the same writer (within one turn of the event loop) are encoded straight into
// one arena and handed to the native side in one call, in order; a write to another writer, a full batch, or the
// end of the turn sends them. Samples of a batch that do not fit park together, and the batch's callers are answered once its last sample
// is written; a batch for a writer that already has parked writes parks whole behind them. Parked samples are
// retried in batches too. A batch never holds more than `maxPending` minus what is parked, so the bound holds.
// With Cyclone's write batching on, each writer is flushed once per turn.
import { TransportError, type EcpsEvent, type QosLevel } from '@ecps/core';
import { encodeEnvelopeInto, encodeEnvelopeView } from './envelope-cdr';
import { DDS_RETCODE_TIMEOUT, NATIVE_EVENTS, SAMPLE_TYPES, type NativeQos } from './native';
import type { Participant } from './participant';
import type { TrafficClass } from './qos-table';
import { localReadersOf, onRoom, type ReaderPump } from './reader-pump';

/** Samples waiting for room, in order: `bytes[ends[i-1], ends[i])` for next <= i < count; answered together. */
interface ParkedWrites {
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
  readonly count: number;
  /** The first sample not written yet. */
  next: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface PooledWriter {
  readonly key: string;
  readonly cls: TrafficClass;
  readonly level: QosLevel;
  readonly handle: number;
  readonly ddsName: string;
  readonly reliable: boolean;
  /** Reliable KEEP_ALL readers of this topic in this process (shared, live set). */
  readonly locals: Set<ReaderPump>;
  readonly parked: ParkedWrites[];
  /** Use counter value at the last write (least-recently-used eviction without reordering on every write). */
  lastUse: number;
  /** A worker thread is waiting for this writer's readers to acknowledge. */
  ackWaiting: boolean;
  closed: boolean;
  stopWaiting?: () => void;
}

/** Writes to one writer collected in the pool's arena, answered together. */
interface Batch {
  readonly writer: PooledWriter;
  /** How many samples the batch may hold (room under `maxPending`, at most MAX_BATCH). */
  readonly capacity: number;
  count: number;
  bytes: number;
  readonly done: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Why a write did not go out: the writer's history is full, or a reliable reader in this process is congested. */
type Blocked = 'history' | 'local';

export interface WriterPoolOptions {
  maxWriters: number;
  maxPending: number;
  batching: boolean;
  /** Called for writer events (incompatible QoS offered) with the writer's topic. */
  onWriterEvent: (ddsName: string, kind: number, value: number) => void;
}

const RESOLVED = Promise.resolve();
/** Longest single wait for acknowledgements on a worker thread; a stuck peer is re-checked this often. */
const ACK_WAIT_MS = 100;
/** Most samples handed to the native side in one call. */
const MAX_BATCH = 256;
/** Arenas kept for reuse after the parked batch that held one is written. */
const SPARE_ARENAS = 4;
/** Bytes the batch arena holds; a larger sample is written on its own. */
const ARENA_BYTES = 256 * 1024;

export class WriterPool {
  private readonly writers = new Map<string, PooledWriter>();
  private readonly dirty = new Set<PooledWriter>();
  private flushQueued = false;
  private parkedCount = 0;
  private uses = 0;
  private last: PooledWriter | undefined;
  private closed = false;
  private batch: Batch | undefined;
  private arena: Buffer = Buffer.allocUnsafeSlow(ARENA_BYTES);
  private ends: Uint32Array = new Uint32Array(MAX_BATCH);
  /** Arenas a parked batch handed back once written, for the next batch that parks whole (at most SPARE_ARENAS). */
  private readonly spare: Array<{ arena: Buffer; ends: Uint32Array }> = [];
  /** Native calls that retried parked writes. */
  writeRetries = 0;
  /** Native write calls that carried a batch (a measure of how much batching happens). */
  writeBatches = 0;

  constructor(
    private readonly participant: Participant,
    private readonly options: WriterPoolOptions,
    private readonly qosFor: (cls: TrafficClass, level: QosLevel) => NativeQos,
  ) {}

  get parked(): number {
    return this.parkedCount;
  }

  get size(): number {
    return this.writers.size;
  }

  /**
   * Writes `event` as one ecps::dds::Envelope; resolves once Cyclone has it (a batched write: once Cyclone has its
   * whole batch).
   * @throws ValidationError `INVALID_ARGUMENT` when `event` does not fit the envelope (nothing is written).
   * @throws (rejects) TransportError `QUEUE_FULL`, `CLOSED`; a DDS error rejects every write of the batch it met.
   */
  write(ddsName: string, cls: TrafficClass, level: QosLevel, event: EcpsEvent): Promise<void> {
    const writer = this.writer(ddsName, cls, level);
    writer.lastUse = ++this.uses;
    if (this.batch !== undefined && this.batch.writer !== writer) this.sendBatch();
    if (this.parkedCount < this.options.maxPending) {
      let end = encodeEnvelopeInto(event, this.arena, this.batch?.bytes ?? 0);
      if (end < 0 && this.batch !== undefined) {
        this.sendBatch(); // full: the event goes into the next batch, or on its own when larger than the arena
        if (this.parkedCount < this.options.maxPending) end = encodeEnvelopeInto(event, this.arena, 0);
      }
      if (end >= 0) return this.enqueue(writer, end);
    }
    const cdr = encodeEnvelopeView(event); // shared scratch: parking copies it
    this.sendBatch(); // whatever was batched goes first
    if (writer.parked.length > 0) return this.park(writer, cdr, 'history');
    const blocked = this.tryWrite(writer, cdr);
    return blocked === undefined ? RESOLVED : this.park(writer, cdr, blocked);
  }

  /** Adds the sample just encoded into the arena (up to `end`) to the open batch, opening one for `writer`. */
  private enqueue(writer: PooledWriter, end: number): Promise<void> {
    let batch = this.batch;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const capacity = Math.min(MAX_BATCH, this.options.maxPending - this.parkedCount);
      batch = this.batch = { writer, capacity, count: 0, bytes: 0, done, resolve, reject };
      this.flushSoon();
    }
    batch.bytes = end;
    this.ends[batch.count++] = end;
    const { done } = batch;
    if (batch.count >= batch.capacity) this.sendBatch();
    return done;
  }

  /**
   * Hands the open batch to Cyclone in one call; what does not fit parks, in order, behind what did. A batch for a
   * writer with parked writes parks whole behind them.
   */
  private sendBatch(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    const { writer, count } = batch;
    if (writer.parked.length > 0) return this.parkTail(writer, batch, 0);
    const max = Math.min(count, this.localRoom(writer));
    let written: number;
    try {
      written = max === 0 ? 0 : this.participant.binding.writeBatch(writer.handle, SAMPLE_TYPES.envelope, this.arena, this.ends, count, max);
    } catch (error) {
      batch.reject(error);
      return;
    }
    if (max > 0) this.writeBatches++;
    if (written > 0) this.wrote(writer, written);
    if (written === count) return batch.resolve();
    this.parkTail(writer, batch, written);
    this.waitForRoom(writer, written === max && max < count ? 'local' : 'history');
  }

  /**
   * Parks the samples of `batch` from `from` on, answered with the batch. A tail that fills at least half the arena
   * takes the arena itself (the pool continues with a spare one); a smaller one is copied, so parked memory stays
   * within twice the parked bytes.
   */
  private parkTail(writer: PooledWriter, batch: Batch, from: number): void {
    const base = from === 0 ? 0 : this.ends[from - 1]!;
    const count = batch.count - from;
    this.parkedCount += count;
    const { resolve, reject } = batch;
    if (batch.bytes - base >= ARENA_BYTES >> 1) {
      const held = { arena: this.arena, ends: this.ends };
      const next = this.spare.pop();
      this.arena = next?.arena ?? Buffer.allocUnsafeSlow(ARENA_BYTES);
      this.ends = next?.ends ?? new Uint32Array(MAX_BATCH);
      const handBack = () => {
        if (this.spare.length < SPARE_ARENAS) this.spare.push(held);
      };
      const done = () => {
        handBack();
        resolve();
      };
      const failed = (error: unknown) => {
        handBack();
        reject(error);
      };
      writer.parked.push({ bytes: held.arena, ends: held.ends, count: batch.count, next: from, resolve: done, reject: failed });
      return;
    }
    const ends = this.ends.slice(from, batch.count);
    if (base > 0) for (let i = 0; i < count; i++) ends[i]! -= base;
    const bytes = Uint8Array.prototype.slice.call(this.arena, base, batch.bytes);
    writer.parked.push({ bytes, ends, count, next: 0, resolve, reject });
  }

  /** How many samples `writer` may write before a reliable reader in this process would be congested. */
  private localRoom(writer: PooledWriter): number {
    let room = Infinity;
    if (writer.reliable) for (const reader of writer.locals) room = Math.min(room, reader.localRoom);
    return room;
  }

  /** Parks `cdr` behind `writer`'s other parked writes. @throws (rejects) TransportError `QUEUE_FULL`. */
  private park(writer: PooledWriter, cdr: Uint8Array, blocked: Blocked): Promise<void> {
    if (this.parkedCount >= this.options.maxPending) {
      return Promise.reject(
        new TransportError('QUEUE_FULL', `${this.parkedCount} DDS writes are already waiting for room`, { details: { limit: this.options.maxPending } }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const bytes = Uint8Array.prototype.slice.call(cdr);
      writer.parked.push({ bytes, ends: Uint32Array.of(bytes.length), count: 1, next: 0, resolve, reject });
      this.parkedCount++;
      if (writer.parked.length === 1) this.waitForRoom(writer, blocked);
    });
  }

  /** Waits (on worker threads) until every reliable writer's data is acknowledged or `timeoutMs` passes. */
  async settle(timeoutMs: number): Promise<boolean> {
    this.flush();
    const deadline = Date.now() + timeoutMs;
    for (const w of [...this.writers.values()]) {
      // acknowledged already (the usual case): answered on this thread, without a turn of the event loop
      if (!w.reliable || this.participant.binding.waitForAcks(w.handle, 0)) continue;
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        if (await this.acksIn(w.handle, left)) break;
      }
    }
    return true;
  }

  /** Fails every parked write with `error` and closes every writer (their entities go with the participant). */
  close(error: unknown): void {
    this.closed = true;
    this.batch?.reject(error);
    this.batch = undefined;
    for (const writer of this.writers.values()) {
      writer.closed = true;
      writer.stopWaiting?.();
      for (const p of writer.parked.splice(0)) p.reject(error);
    }
    this.parkedCount = 0;
    this.writers.clear();
    this.dirty.clear();
    this.last = undefined;
  }

  private writer(ddsName: string, cls: TrafficClass, level: QosLevel): PooledWriter {
    const last = this.last;
    if (last !== undefined && last.ddsName === ddsName && last.cls === cls && last.level === level) return last;
    const key = `${ddsName}\u0000${cls}\u0000${level}`;
    const known = this.writers.get(key);
    if (known) return (this.last = known);
    const topic = this.participant.acquireTopic(ddsName, SAMPLE_TYPES.envelope);
    let handle: number;
    try {
      handle = this.participant.createWriter(topic, this.qosFor(cls, level), (kind, value) => {
        if (kind === NATIVE_EVENTS.offeredIncompatibleQos) this.options.onWriterEvent(ddsName, kind, value);
      });
    } catch (error) {
      this.participant.releaseTopic(ddsName, SAMPLE_TYPES.envelope);
      throw new TransportError('INTERNAL', `cannot create a DDS writer for ${ddsName}: ${String(error)}`, { cause: error });
    }
    const writer: PooledWriter = {
      key,
      cls,
      level,
      handle,
      ddsName,
      reliable: level > 0,
      locals: localReadersOf(ddsName),
      parked: [],
      lastUse: this.uses,
      ackWaiting: false,
      closed: false,
    };
    this.writers.set(key, writer);
    if (this.writers.size > this.options.maxWriters) this.evictOne(writer);
    return (this.last = writer);
  }

  /** Closes the least recently used writer other than `keep` that has nothing parked (a scan: creation is rare). */
  private evictOne(keep: PooledWriter): void {
    let victim: PooledWriter | undefined;
    for (const writer of this.writers.values()) {
      if (writer !== keep && writer !== this.batch?.writer && writer.parked.length === 0 && (victim === undefined || writer.lastUse < victim.lastUse)) victim = writer;
    }
    if (!victim) return;
    victim.closed = true;
    this.writers.delete(victim.key);
    this.dirty.delete(victim);
    if (this.last === victim) this.last = undefined;
    this.participant.deleteWriter(victim.handle);
    this.participant.releaseTopic(victim.ddsName, SAMPLE_TYPES.envelope);
  }

  /** Hands `cdr` to Cyclone; undefined when it went out, else why it could not. */
  private tryWrite(writer: PooledWriter, cdr: Uint8Array): Blocked | undefined {
    if (writer.reliable) for (const reader of writer.locals) if (reader.congested) return 'local';
    if (this.participant.binding.write(writer.handle, SAMPLE_TYPES.envelope, cdr) === DDS_RETCODE_TIMEOUT) return 'history';
    this.wrote(writer, 1);
    return undefined;
  }

  /** Accounts for `n` samples Cyclone took from `writer`: local readers' share, and a flush at the end of the turn. */
  private wrote(writer: PooledWriter, n: number): void {
    if (writer.reliable) for (const reader of writer.locals) reader.localSinceTake += n;
    if (this.options.batching) {
      this.dirty.add(writer);
      this.flushSoon();
    }
  }

  private flushSoon(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** Sends the open batch, then what Cyclone's write batching holds back. */
  private flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    this.sendBatch();
    for (const writer of this.dirty) this.participant.binding.flush(writer.handle);
    this.dirty.clear();
  }

  /** Resolves true once `writer`'s readers have acknowledged everything, false after `timeoutMs` (capped). */
  private acksIn(writer: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => this.participant.binding.waitForAcksAsync(writer, Math.min(timeoutMs, ACK_WAIT_MS), resolve));
  }

  /** Retries `writer`'s parked writes when what `blocked` it is gone: a local reader made room, or acknowledgements came. */
  private waitForRoom(writer: PooledWriter, blocked: Blocked): void {
    if (blocked === 'local') {
      writer.stopWaiting ??= onRoom(writer.ddsName, () => this.retry(writer));
      return;
    }
    if (writer.ackWaiting) return;
    writer.ackWaiting = true;
    void this.acksIn(writer.handle, ACK_WAIT_MS).then(() => {
      writer.ackWaiting = false;
      if (this.closed || writer.closed) return;
      this.retry(writer);
    });
  }

  /**
   * Writes what `writer` has parked, in order and in batches, as far as it goes, then waits again for what still
   * blocks it. A DDS error fails the parked writes it met (and only those).
   */
  private retry(writer: PooledWriter): void {
    if (this.closed || writer.closed) return;
    while (writer.parked.length > 0) {
      const parked = writer.parked[0]!;
      const left = parked.count - parked.next;
      const max = Math.min(left, this.localRoom(writer));
      let written = 0;
      if (max > 0) {
        this.writeRetries++;
        try {
          written = this.participant.binding.writeBatch(writer.handle, SAMPLE_TYPES.envelope, parked.bytes, parked.ends, parked.count, max, parked.next);
        } catch (error) {
          writer.parked.shift();
          this.parkedCount -= left;
          parked.reject(error);
          continue;
        }
      }
      if (written > 0) {
        parked.next += written;
        this.parkedCount -= written;
        this.wrote(writer, written);
      }
      if (written < left) return this.waitForRoom(writer, written === max ? 'local' : 'history');
      writer.parked.shift();
      parked.resolve();
    }
    writer.stopWaiting?.();
    writer.stopWaiting = undefined;
  }
}
