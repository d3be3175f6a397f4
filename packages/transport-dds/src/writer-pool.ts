// SPDX-License-Identifier: Apache-2.0
// The DDS writers of one transport: one per (topic, traffic class, reliability level), created on first use and
// closed least-recently-used first beyond a bound. Writes never block the event loop: a full writer history (or a
// congested reader in this process) parks the write, in order, and it is retried shortly; past `maxPending` parked
// writes a publish fails with QUEUE_FULL. With Cyclone's write batching on, each writer is flushed once per turn.
import { TransportError, type QosLevel } from '@ecps/core';
import { DDS_RETCODE_TIMEOUT, NATIVE_EVENTS, SAMPLE_TYPES, type NativeQos } from './native';
import type { Participant } from './participant';
import type { TrafficClass } from './qos-table';
import { localReadersOf, onRoom, type ReaderPump } from './reader-pump';

interface ParkedWrite {
  cdr: Uint8Array;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface PooledWriter {
  readonly key: string;
  readonly handle: number;
  readonly ddsName: string;
  readonly reliable: boolean;
  /** Reliable KEEP_ALL readers of this topic in this process (shared, live set). */
  readonly locals: Set<ReaderPump>;
  readonly parked: ParkedWrite[];
  stopWaiting?: () => void;
}

export interface WriterPoolOptions {
  maxWriters: number;
  maxPending: number;
  batching: boolean;
  /** Called for writer events (incompatible QoS offered) with the writer's topic. */
  onWriterEvent: (ddsName: string, kind: number, value: number) => void;
}

const RESOLVED = Promise.resolve();
const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 20;

export class WriterPool {
  private readonly writers = new Map<string, PooledWriter>();
  private readonly dirty = new Set<PooledWriter>();
  private flushQueued = false;
  private parkedCount = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryDelay = RETRY_MIN_MS;
  private closed = false;
  writeRetries = 0;

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

  /** Writes one XCDR envelope; resolves once Cyclone has it. @throws TransportError `QUEUE_FULL`, `CLOSED`. */
  write(ddsName: string, cls: TrafficClass, level: QosLevel, cdr: Uint8Array): Promise<void> {
    const writer = this.writer(ddsName, cls, level);
    if (writer.parked.length === 0 && this.tryWrite(writer, cdr)) return RESOLVED;
    if (this.parkedCount >= this.options.maxPending) {
      return Promise.reject(
        new TransportError('QUEUE_FULL', `${this.parkedCount} DDS writes are already waiting for room`, { details: { limit: this.options.maxPending } }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      writer.parked.push({ cdr, resolve, reject });
      this.parkedCount++;
      this.waitForRoom(writer);
    });
  }

  /** Polls until every reliable writer's data is acknowledged or `timeoutMs` passes; never blocks the loop. */
  async settle(timeoutMs: number): Promise<boolean> {
    this.flush();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const unacked = [...this.writers.values()].filter((w) => w.reliable && !this.participant.binding.waitForAcks(w.handle, 0));
      if (unacked.length === 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Fails every parked write with `error` and closes every writer (their entities go with the participant). */
  close(error: unknown): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const writer of this.writers.values()) {
      writer.stopWaiting?.();
      for (const p of writer.parked.splice(0)) p.reject(error);
    }
    this.parkedCount = 0;
    this.writers.clear();
    this.dirty.clear();
  }

  private writer(ddsName: string, cls: TrafficClass, level: QosLevel): PooledWriter {
    const key = `${ddsName}\u0000${cls}\u0000${level}`;
    const known = this.writers.get(key);
    if (known) {
      // keep Map order least-recently-used first
      this.writers.delete(key);
      this.writers.set(key, known);
      return known;
    }
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
    const writer: PooledWriter = { key, handle, ddsName, reliable: level > 0, locals: localReadersOf(ddsName), parked: [] };
    this.writers.set(key, writer);
    if (this.writers.size > this.options.maxWriters) this.evictOne();
    return writer;
  }

  private evictOne(): void {
    for (const writer of this.writers.values()) {
      if (writer.parked.length > 0) continue;
      this.writers.delete(writer.key);
      this.dirty.delete(writer);
      this.participant.deleteWriter(writer.handle);
      this.participant.releaseTopic(writer.ddsName, SAMPLE_TYPES.envelope);
      return;
    }
  }

  private tryWrite(writer: PooledWriter, cdr: Uint8Array): boolean {
    if (writer.reliable) for (const reader of writer.locals) if (reader.congested) return false;
    if (this.participant.binding.write(writer.handle, SAMPLE_TYPES.envelope, cdr) === DDS_RETCODE_TIMEOUT) return false;
    if (writer.reliable) for (const reader of writer.locals) reader.localSinceTake++;
    if (this.options.batching) {
      this.dirty.add(writer);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flush());
      }
    }
    return true;
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    for (const writer of this.dirty) this.participant.binding.flush(writer.handle);
    this.dirty.clear();
  }

  /** Parks `writer` until a local reader makes room or the retry timer fires. */
  private waitForRoom(writer: PooledWriter): void {
    writer.stopWaiting ??= onRoom(writer.ddsName, () => this.retry(writer));
    if (this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        const before = this.parkedCount;
        let stuck = false;
        for (const w of this.writers.values()) if (w.parked.length > 0 && !this.retry(w)) stuck = true;
        // back off only while nothing moves: a writer that got some out will have room again soon
        this.retryDelay = stuck && this.parkedCount === before ? Math.min(this.retryDelay * 2, RETRY_MAX_MS) : RETRY_MIN_MS;
        if (stuck) this.waitForRoom([...this.writers.values()].find((w) => w.parked.length > 0)!);
      }, this.retryDelay);
    }
  }

  /** Writes what `writer` has parked, in order, as far as it goes; true when nothing is left. */
  private retry(writer: PooledWriter): boolean {
    if (this.closed) return true;
    while (writer.parked.length > 0) {
      this.writeRetries++;
      if (!this.tryWrite(writer, writer.parked[0]!.cdr)) return false;
      writer.parked.shift()!.resolve();
      this.parkedCount--;
    }
    writer.stopWaiting?.();
    writer.stopWaiting = undefined;
    return true;
  }
}
