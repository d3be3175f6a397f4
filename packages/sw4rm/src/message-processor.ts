// SPDX-License-Identifier: Apache-2.0
// Receiver side of the ACK lifecycle (spec §3.4): RECEIVED on admission, READ on dequeue, FULFILLED on success,
// NACK for unhandled types or a full inbound buffer. Never a silent drop; never an ACK of an ACK.
// Receiver de-duplication (§3.5) is persistent when given a KvStore: token (else message id) → outcome for the
// window; a duplicate of a finished message is answered DUPLICATE_DETECTED with the cached outcome, one still being
// processed ALREADY_IN_PROGRESS. Nothing is re-executed.
import { randomUUID } from 'node:crypto';
import type { Clock, Logger } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import type { AckPayload } from './ack';
import { ackOf, buildAckEnvelope } from './ack';
import { normaliseEnum } from './enums';
import { AckStage, ErrorCode, MessageType } from './gen/common';
import type { Envelope } from './gen/common';
import type { KvOp, KvStore } from './kv-store';
import { KvJsonTable } from './kv-store';

/** Handles one envelope; its result (if any) is cached for duplicates; throwing ends it FAILED (INTERNAL_ERROR). */
export type EnvelopeHandler = (envelope: Envelope) => Promise<void | string | Uint8Array> | void | string | Uint8Array;

/** Options of {@link MessageProcessor}. */
export interface MessageProcessorOptions {
  agentId: string;
  /** Sends an ACK/NACK envelope (through the router). */
  sendAck(envelope: Envelope): Promise<void>;
  /** Receives every ACK addressed to us (e.g. AckLifecycleManager.handleAck). */
  onAck?(ack: AckPayload, envelope: Envelope): void;
  /** Inbound buffer size; default 10, full → REJECTED BUFFER_FULL. */
  bufferCapacity?: number;
  /** Receiver dedup window for tokens/message ids; default 3 600 000 ms. */
  dedupWindowMs?: number;
  /** At most this many dedup records are kept (oldest dropped first); default 100 000. */
  maxDedupRecords?: number;
  /** Persists dedup records (namespace `dedup/<agentId>`); memory only when absent. */
  store?: KvStore;
  clock?: Clock;
  logger?: Logger;
}

/** What happened to one envelope given to {@link MessageProcessor.submit}. */
export type SubmitResult = 'ack' | 'queued' | 'duplicate' | 'in_progress' | 'rejected';

/** A cached outcome (JSON-safe; persisted). */
export interface DedupRecord {
  original_message_id: string;
  original_status: 'RECEIVED' | 'READ' | 'FULFILLED' | 'FAILED';
  result?: string;
  result_b64?: string;
  error?: string;
  cached_at: number;
  /** The processor instance that admitted it: in-progress records of an earlier instance were interrupted. */
  run: string;
}

const TERMINAL = new Set<DedupRecord['original_status']>(['FULFILLED', 'FAILED']);

/**
 * Dispatches envelopes to per-type handlers, one at a time, in arrival order.
 * `submit` resolves once the envelope is admitted (RECEIVED sent) or refused (NACK sent). Call {@link load}
 * first when a store is given.
 */
export class MessageProcessor {
  private readonly handlers = new Map<number, EnvelopeHandler>();
  private readonly queue: { envelope: Envelope; key: string }[] = [];
  /** Dedup records in admission order (pruned from the front). */
  private readonly seen = new Map<string, DedupRecord>();
  private readonly table: KvJsonTable<DedupRecord> | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly capacity: number;
  private readonly windowMs: number;
  private readonly run = randomUUID();
  private running: Promise<void> | undefined;

  constructor(private readonly options: MessageProcessorOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.capacity = options.bufferCapacity ?? 10;
    this.windowMs = options.dedupWindowMs ?? 3_600_000;
    this.table = options.store ? new KvJsonTable(options.store, `dedup/${options.agentId}`) : undefined;
  }

  /** Restores persisted dedup records. @throws EcpsError IO_ERROR / LOG_CORRUPT from the store. */
  async load(): Promise<this> {
    if (!this.table) return this;
    const records = [...(await this.table.load())].sort(([, a], [, b]) => a.cached_at - b.cached_at);
    for (const [key, rec] of records) this.seen.set(key, rec);
    await this.prune();
    return this;
  }

  /** Registers the handler of a message type (replacing an earlier one). */
  on(type: MessageType, handler: EnvelopeHandler): this {
    this.handlers.set(type, handler);
    return this;
  }

  /** The cached outcome for a token (or message id), if any. */
  outcome(producerId: string, tokenOrMessageId: string): DedupRecord | undefined {
    return this.seen.get(`t:${producerId}:${tokenOrMessageId}`) ?? this.seen.get(`m:${tokenOrMessageId}`);
  }

  /** Admits one envelope (see the class doc). Errors of `sendAck` and of the store propagate. */
  async submit(envelope: Envelope): Promise<SubmitResult> {
    const type = normaliseEnum(MessageType, envelope.messageType) ?? 0;
    if (type === MessageType.ACKNOWLEDGEMENT) {
      const ack = ackOf(envelope);
      if (ack) this.options.onAck?.(ack, envelope);
      else this.logger.debug('ignoring invalid ACK payload', { messageId: envelope.messageId });
      return 'ack';
    }
    await this.prune();
    const key = envelope.idempotencyToken ? `t:${envelope.producerId}:${envelope.idempotencyToken}` : `m:${envelope.messageId}`;
    const known = this.seen.get(key);
    // an in-progress record of an earlier run was interrupted by a crash: the redelivery runs again (at-least-once)
    if (known && (TERMINAL.has(known.original_status) || known.run === this.run)) {
      const { run: _run, ...cached } = known;
      const inProgress = !TERMINAL.has(known.original_status);
      const code = inProgress ? ErrorCode.ALREADY_IN_PROGRESS : ErrorCode.DUPLICATE_DETECTED;
      await this.ack(envelope, AckStage.REJECTED, code, `${inProgress ? 'already_in_progress' : 'duplicate_detected'}: ${JSON.stringify(cached)}`);
      return inProgress ? 'in_progress' : 'duplicate';
    }
    if (!this.handlers.has(type)) {
      await this.ack(envelope, AckStage.REJECTED, ErrorCode.UNSUPPORTED_MESSAGE_TYPE, `unsupported_message_type: ${type}`);
      return 'rejected';
    }
    if (this.queue.length >= this.capacity) {
      await this.ack(envelope, AckStage.REJECTED, ErrorCode.BUFFER_FULL, 'buffer_full: inbound buffer full');
      return 'rejected';
    }
    // re-admission moves the record to the back of the pruning order
    this.seen.delete(key);
    await this.record(key, { original_message_id: envelope.messageId, original_status: 'RECEIVED', cached_at: this.clock.now(), run: this.run });
    this.queue.push({ envelope, key });
    await this.ack(envelope, AckStage.RECEIVED);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return 'queued';
  }

  /** Resolves when every admitted envelope has been processed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    for (let item = this.queue.shift(); item; item = this.queue.shift()) {
      const { envelope: env, key } = item;
      const handler = this.handlers.get(normaliseEnum(MessageType, env.messageType) ?? 0)!;
      try {
        await this.ack(env, AckStage.READ);
        await this.update(key, { original_status: 'READ' });
        const result = await handler(env);
        const cached = typeof result === 'string' ? { result } : result instanceof Uint8Array ? { result_b64: Buffer.from(result).toString('base64') } : {};
        await this.update(key, { original_status: 'FULFILLED', ...cached });
        await this.ack(env, AckStage.FULFILLED);
      } catch (err) {
        this.logger.warn('handler failed', { messageId: env.messageId, error: String(err) });
        await this.update(key, { original_status: 'FAILED', error: String(err) }).catch(() => undefined);
        await this.ack(env, AckStage.FAILED, ErrorCode.INTERNAL_ERROR, `internal_error: ${String(err)}`).catch(() => undefined);
      }
    }
  }

  private async record(key: string, rec: DedupRecord): Promise<void> {
    if (this.table) await this.table.save(key, rec);
    this.seen.set(key, rec);
  }

  private async update(key: string, change: Partial<DedupRecord>): Promise<void> {
    const rec = this.seen.get(key);
    if (rec) await this.record(key, { ...rec, ...change });
  }

  private async prune(): Promise<void> {
    const cutoff = this.clock.now() - this.windowMs;
    const max = this.options.maxDedupRecords ?? 100_000;
    const ops: KvOp[] = [];
    for (const [k, rec] of this.seen) {
      if (rec.cached_at > cutoff && this.seen.size <= max) break;
      if (!TERMINAL.has(rec.original_status) && rec.run === this.run && rec.cached_at > cutoff) break; // never forget work in progress
      this.seen.delete(k);
      if (this.table) ops.push(this.table.del(k));
    }
    if (ops.length) await this.options.store!.commit(ops);
  }

  private ack(envelope: Envelope, stage: AckStage, errorCode?: ErrorCode, note?: string): Promise<void> {
    const init = { producerId: this.options.agentId, stage, ...(errorCode ? { errorCode } : {}), ...(note ? { note } : {}) };
    return this.options.sendAck(buildAckEnvelope(envelope, init, { clock: this.clock }));
  }
}
