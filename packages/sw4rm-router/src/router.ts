// SPDX-License-Identifier: Apache-2.0
// The SW4RM router (spec §3.1): durable per-recipient rows, router-wide seq, delivery acks, leases, TTL,
// dedup, NACKs instead of silent drops, supersession and drain.
import type { ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { Clock, Logger, RandomSource, TimerHandle } from '@ecps/core';
import { cryptoRandom, silentLogger, systemClock } from '@ecps/core';
import { AckStage, CONTENT_TYPES, ErrorCode, MessageType, buildEnvelope, encodeAckPayload, normaliseEnum } from '@ecps/sw4rm';
import { DeliveryAckOutcome, Envelope } from '@ecps/sw4rm/proto';
import type { DeliveryAckRequest, DeliveryAckResponse, SendMessageResponse, StreamRequest } from '@ecps/sw4rm/proto';
import type { RouterConfig } from './config';
import { DEFAULT_ROUTER_CONFIG } from './config';
import type { DedupRecord, DeliveryRow, StoreOp } from './store';
import { RouterStore } from './store';
import type { RawSendRequest } from './wire';
import { encodeStreamItem } from './wire';

/** Options of {@link Sw4rmRouter.open}: any config field plus injectable clock, randomness and logger. */
export interface RouterOptions extends Partial<RouterConfig> {
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

/** The SendMessage answer. */
export interface SendResult {
  accepted: boolean;
  reason: string;
}

/** Where a stream session writes: a grpc-js server stream or any test double. */
export interface StreamSink {
  write(item: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  /** Ends the stream with a gRPC status (ABORTED on supersession, UNAVAILABLE on shutdown). */
  fail(code: Status, details: string): void;
}

interface Session {
  agentId: string;
  sink: StreamSink;
  queue: bigint[];
  queued: Set<bigint>;
  pumping: boolean;
  closed: boolean;
  drainWaiter?: () => void;
}

interface MemRow extends DeliveryRow {
  committed: boolean;
}

type NackCause = 'buffer_full' | 'ttl_expired' | 'delivery_attempts_exhausted';
const NACKS: Record<NackCause, [AckStage, ErrorCode]> = {
  buffer_full: [AckStage.REJECTED, ErrorCode.BUFFER_FULL],
  ttl_expired: [AckStage.FAILED, ErrorCode.TTL_EXPIRED],
  delivery_attempts_exhausted: [AckStage.FAILED, ErrorCode.AGENT_UNAVAILABLE],
};

/** The router. Create with {@link Sw4rmRouter.open}; expose with {@link Sw4rmRouter.grpcImplementation}. */
export class Sw4rmRouter {
  readonly config: RouterConfig;
  private readonly rows = new Map<bigint, MemRow>();
  private readonly byAgent = new Map<string, Map<bigint, MemRow>>();
  private readonly agents = new Set<string>();
  private readonly dedup: Map<string, DedupRecord>;
  private readonly sessions = new Map<string, Session>();
  private highWater: bigint;
  private draining = false;
  private closed = false;
  private sweepTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;

  private constructor(
    private readonly store: RouterStore,
    snapshot: Awaited<ReturnType<typeof RouterStore.open>>['snapshot'],
    options: RouterOptions,
  ) {
    const { clock, random, logger, ...config } = options;
    this.config = { ...DEFAULT_ROUTER_CONFIG, ...config };
    this.clock = clock ?? systemClock;
    this.random = random ?? cryptoRandom;
    this.logger = logger ?? silentLogger;
    this.highWater = snapshot.highWater;
    this.dedup = snapshot.dedup;
    for (const a of snapshot.agents) this.agents.add(a);
    for (const r of snapshot.rows) this.insert({ ...r, committed: true });
    this.scheduleSweep();
  }

  /**
   * Opens the store (restoring rows as PENDING, known agents, dedup records and the seq high-water mark)
   * and starts the lease/TTL sweeper. @throws EcpsError IO_ERROR when the store cannot be opened.
   */
  static async open(options: RouterOptions = {}): Promise<Sw4rmRouter> {
    const { store, snapshot } = await RouterStore.open(options.dbPath ?? DEFAULT_ROUTER_CONFIG.dbPath);
    return new Sw4rmRouter(store, snapshot, options);
  }

  /** True once {@link drain} started. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Rows waiting or in flight for an agent (for status and tests). */
  pendingFor(agentId: string): { seq: bigint; messageId: string; state: 'PENDING' | 'IN_FLIGHT' }[] {
    return [...(this.byAgent.get(agentId)?.values() ?? [])].map((r) => ({ seq: r.seq, messageId: r.messageId, state: r.state }));
  }

  /** Resolves once every queued store write has been committed. */
  idle(): Promise<void> {
    return this.store.idle();
  }

  /** Known agents, sorted. */
  knownAgents(): string[] {
    return [...this.agents].sort();
  }

  /** Persists an agent as known (fixture seeding; StreamIncoming does this too). */
  async addKnownAgent(agentId: string): Promise<void> {
    if (this.agents.has(agentId)) return;
    this.agents.add(agentId);
    await this.store.commit([{ type: 'agent', agentId }]);
  }

  /** SendMessage (spec §3.1 steps 1–9) on the raw envelope bytes. @throws EcpsError IO_ERROR when the commit fails. */
  async sendMessage(raw: Uint8Array | undefined): Promise<SendResult> {
    if (this.draining || this.closed) return { accepted: false, reason: 'Router service is shutting down' };
    if (!raw) return { accepted: false, reason: 'validation_error: msg is required' };
    let env: Envelope;
    try {
      env = Envelope.decode(raw);
    } catch (err) {
      return { accepted: false, reason: `validation_error: envelope does not decode (${String(err)})` };
    }
    if (!env.messageId) return { accepted: false, reason: 'validation_error: message_id is required' };
    if (!env.producerId) return { accepted: false, reason: 'validation_error: producer_id is required' };
    if (env.contentLength !== 0n && env.contentLength !== BigInt(env.payload.length)) {
      return { accepted: false, reason: `validation_error: content_length ${env.contentLength} != payload length ${env.payload.length}` };
    }
    if (env.payload.length > this.config.maxPayloadBytes) {
      return { accepted: false, reason: `oversize_payload: ${env.payload.length} > ${this.config.maxPayloadBytes}` };
    }
    const now = this.clock.now();
    const keys = [`${env.producerId}\u0000m:${env.messageId}`];
    if (env.idempotencyToken) keys.push(`${env.producerId}\u0000t:${env.idempotencyToken}`);
    if (this.config.dedupWindowMs > 0) {
      for (const k of keys) {
        const rec = this.dedup.get(k);
        if (rec && rec.acceptedAt + this.config.dedupWindowMs > now) return { accepted: true, reason: `Duplicate of ${rec.original} suppressed` };
      }
    }
    const type = normaliseEnum(MessageType, env.messageType);
    if (type === MessageType.ACKNOWLEDGEMENT && this.config.ackMode === 'swallow') return { accepted: true, reason: 'ACK message accepted' };
    const targets = [...this.agents].filter((a) => a !== env.producerId).sort();
    if (targets.length === 0) return { accepted: false, reason: 'No recipients available' };

    const expiresAt = env.ttlMs > 0n ? now + Number(env.ttlMs) : 0;
    const created: MemRow[] = [];
    const full: string[] = [];
    for (const target of targets) {
      if ((this.byAgent.get(target)?.size ?? 0) < this.config.maxQueue) {
        created.push(this.newRow(target, raw, env, 'msg', expiresAt, now));
      } else full.push(target);
    }
    for (const target of full) {
      const nack = this.nackRow(env, 'buffer_full', target, now);
      if (nack) created.push(nack);
    }
    const ops: StoreOp[] = created.map((row) => ({ type: 'row', row }));
    const hasMsgRow = created.some((r) => r.kind === 'msg');
    const dedupKeys = hasMsgRow && this.config.dedupWindowMs > 0 ? keys : [];
    for (const key of dedupKeys) {
      const record = { original: env.messageId, acceptedAt: now };
      this.dedup.set(key, record);
      ops.push({ type: 'dedup', key, record });
    }
    if (created.length) ops.push({ type: 'seq', highWater: this.highWater });
    try {
      await this.store.commit(ops);
    } catch (err) {
      for (const r of created) this.remove(r);
      for (const key of dedupKeys) this.dedup.delete(key);
      throw err;
    }
    this.publish(created);
    if (full.length) this.logger.warn('recipient queue full', { messageId: env.messageId, full });
    const nMsg = created.filter((r) => r.kind === 'msg').length;
    const fullNote = full.length ? `buffer_full: ${full.join(',')}` : '';
    if (nMsg === 0) return { accepted: false, reason: fullNote };
    return { accepted: true, reason: `Message delivered to ${nMsg} recipients${fullNote ? `; ${fullNote}` : ''}` };
  }

  /**
   * Opens the delivery stream of `agentId`: persists the agent, supersedes an older stream (ABORTED), resets
   * its IN_FLIGHT rows to PENDING and replays them first, then pending rows, then new rows as they arrive.
   * Returns a function to call when the client goes away.
   */
  async openStream(agentId: string, sink: StreamSink): Promise<() => void> {
    await this.addKnownAgent(agentId);
    const old = this.sessions.get(agentId);
    if (old) {
      this.logger.warn('stream superseded by a newer one', { agentId });
      this.closeSession(old);
      old.sink.fail(Status.ABORTED, 'superseded by a newer stream of the same agent');
    }
    const session: Session = { agentId, sink, queue: [], queued: new Set(), pumping: false, closed: false };
    this.sessions.set(agentId, session);
    const mine = [...(this.byAgent.get(agentId)?.values() ?? [])].sort((a, b) => (a.seq < b.seq ? -1 : 1));
    const inFlight = mine.filter((r) => r.state === 'IN_FLIGHT');
    for (const r of inFlight) r.state = 'PENDING';
    for (const r of [...inFlight, ...mine.filter((r) => !inFlight.includes(r))]) this.enqueue(session, r.seq);
    void this.pump(session);
    return () => this.closeSession(session);
  }

  /** AckDelivery (spec §3.1): true only for the owner's IN_FLIGHT row; the delete is committed first. */
  async ackDelivery(req: DeliveryAckRequest): Promise<boolean> {
    const outcome = normaliseEnum(DeliveryAckOutcome, req.outcome);
    if (!req.agentId || req.seq <= 0n || (outcome !== 0 && outcome !== 1)) return false;
    const row = this.rows.get(req.seq);
    if (!row || !row.committed) return false;
    if (row.recipient !== req.agentId) return false;
    if (req.messageId && req.messageId !== row.messageId) return false;
    if (row.state !== 'IN_FLIGHT') return false;
    this.remove(row);
    try {
      await this.store.commit([{ type: 'delRow', seq: row.seq }]);
    } catch (err) {
      row.state = 'PENDING';
      this.insert(row);
      throw err;
    }
    if (outcome === 1) this.logger.warn('delivery discarded by consumer (PERMANENT_FAILURE)', { messageId: row.messageId, seq: String(row.seq) });
    return true;
  }

  /** One sweep: lease expiry (→ PENDING, redelivered), TTL expiry (→ NACK), dedup pruning. */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    const ops: StoreOp[] = [];
    const nacks: MemRow[] = [];
    const requeue: MemRow[] = [];
    for (const row of [...this.rows.values()]) {
      if (!row.committed) continue;
      const expired = row.expiresAt > 0 && row.expiresAt <= now;
      if (row.state === 'PENDING') {
        if (expired) this.drop(row, 'ttl_expired', now, ops, nacks);
        continue;
      }
      if (row.yieldedAt + this.config.leaseMs > now) continue;
      if (expired) this.drop(row, 'ttl_expired', now, ops, nacks);
      else if (this.config.maxDeliveryAttempts > 0 && row.attempts >= this.config.maxDeliveryAttempts) {
        this.drop(row, 'delivery_attempts_exhausted', now, ops, nacks);
      } else {
        row.state = 'PENDING';
        requeue.push(row);
      }
    }
    if (this.config.dedupWindowMs > 0) {
      for (const [key, rec] of this.dedup) {
        if (rec.acceptedAt + this.config.dedupWindowMs <= now) {
          this.dedup.delete(key);
          ops.push({ type: 'delDedup', key });
        }
      }
    }
    for (const row of requeue) {
      const s = this.sessions.get(row.recipient);
      if (s) {
        this.enqueue(s, row.seq);
        void this.pump(s);
      }
    }
    await this.commitCreated(ops, nacks);
  }

  /**
   * Drain: refuse SendMessage, keep AckDelivery, end streams with UNAVAILABLE after `graceMs`, close the store.
   */
  async drain(graceMs = this.config.drainGraceMs): Promise<void> {
    this.draining = true;
    if (graceMs > 0) await new Promise<void>((r) => this.clock.setTimeout(r, graceMs));
    await this.close();
  }

  /** Ends every stream (UNAVAILABLE), stops the sweeper and closes the store. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    for (const s of [...this.sessions.values()]) {
      this.closeSession(s);
      s.sink.fail(Status.UNAVAILABLE, 'Router service is shutting down');
    }
    await this.store.close();
  }

  /** grpc-js handlers for `RAW_ROUTER_SERVICE`. */
  grpcImplementation(): UntypedServiceImplementation {
    return {
      SendMessage: (call: ServerUnaryCall<RawSendRequest, SendMessageResponse>, cb: sendUnaryData<SendMessageResponse>) => {
        this.sendMessage(call.request.envelope).then(
          (r) => cb(null, r),
          (err: unknown) => cb({ code: Status.INTERNAL, details: String(err) } as never, null),
        );
      },
      StreamIncoming: (call: ServerWritableStream<StreamRequest, Buffer>) => {
        const agentId = call.request.agentId;
        if (!agentId) {
          call.emit('error', { code: Status.INVALID_ARGUMENT, details: 'agent_id is required' });
          return;
        }
        if (this.closed) {
          call.emit('error', { code: Status.UNAVAILABLE, details: 'Router service is shutting down' });
          return;
        }
        let done: (() => void) | undefined;
        let gone = false;
        call.on('cancelled', () => {
          gone = true;
          done?.();
        });
        const sink: StreamSink = {
          write: (item) => call.write(item),
          once: (event, listener) => call.once(event, listener),
          fail: (code, details) => {
            if (!call.cancelled) call.emit('error', { code, details });
          },
        };
        this.openStream(agentId, sink).then(
          (close) => {
            done = close;
            if (gone) close();
          },
          (err: unknown) => call.emit('error', { code: Status.INTERNAL, details: String(err) }),
        );
      },
      AckDelivery: (call: ServerUnaryCall<DeliveryAckRequest, DeliveryAckResponse>, cb: sendUnaryData<DeliveryAckResponse>) => {
        this.ackDelivery(call.request).then(
          (recorded) => cb(null, { recorded }),
          (err: unknown) => cb({ code: Status.INTERNAL, details: String(err) } as never, null),
        );
      },
    };
  }

  private scheduleSweep(): void {
    if (this.closed) return;
    // the next tick is armed before this sweep's commit is awaited: sweeps never stall behind slow fsyncs
    this.sweepTimer = this.clock.setTimeout(() => {
      this.scheduleSweep();
      this.sweep().catch((err: unknown) => this.logger.error('sweep failed', { error: String(err) }));
    }, this.config.sweepIntervalMs);
  }

  private newRow(recipient: string, envelope: Uint8Array, env: Envelope, kind: 'msg' | 'nack', expiresAt: number, now: number): MemRow {
    this.highWater += 1n;
    const row: MemRow = {
      seq: this.highWater,
      recipient,
      envelope,
      messageId: env.messageId,
      producerId: env.producerId,
      correlationId: env.correlationId,
      kind,
      enqueuedAt: now,
      expiresAt,
      attempts: 0,
      state: 'PENDING',
      yieldedAt: 0,
      committed: false,
    };
    this.insert(row);
    return row;
  }

  /** A NACK row for the producer of `original`, or undefined (producer unknown, cap reached, ACK original, disabled). */
  private nackRow(original: Pick<Envelope, 'messageId' | 'producerId' | 'correlationId' | 'messageType'>, cause: NackCause, recipient: string, now: number): MemRow | undefined {
    if (cause === 'buffer_full' && !this.config.nackOnFull) return undefined;
    if (!this.agents.has(original.producerId) || original.producerId === this.config.routerId) return undefined;
    if (normaliseEnum(MessageType, original.messageType) === MessageType.ACKNOWLEDGEMENT) return undefined; // never NACK an ACK
    const nackCount = [...(this.byAgent.get(original.producerId)?.values() ?? [])].filter((r) => r.kind === 'nack').length;
    if (nackCount >= this.config.maxQueue) return undefined;
    const [stage, code] = NACKS[cause];
    const nack = buildEnvelope(
      {
        producerId: this.config.routerId,
        messageType: MessageType.ACKNOWLEDGEMENT,
        correlationId: original.correlationId,
        contentType: CONTENT_TYPES.ack,
        payload: encodeAckPayload({ ackForMessageId: original.messageId, ackStage: stage, errorCode: code, note: `${cause}: recipient ${recipient}` }),
      },
      { clock: this.clock, random: this.random },
    );
    return this.newRow(original.producerId, Envelope.encode(nack).finish(), nack, 'nack', 0, now);
  }

  private drop(row: MemRow, cause: NackCause, now: number, ops: StoreOp[], nacks: MemRow[]): void {
    this.remove(row);
    ops.push({ type: 'delRow', seq: row.seq });
    const original = { messageId: row.messageId, producerId: row.producerId, correlationId: row.correlationId, messageType: row.kind === 'nack' ? MessageType.ACKNOWLEDGEMENT : MessageType.DATA };
    const nack = row.kind === 'msg' ? this.nackRow(original, cause, row.recipient, now) : undefined;
    if (nack) nacks.push(nack);
    this.logger.warn('delivery dropped', { cause, messageId: row.messageId, recipient: row.recipient, seq: String(row.seq) });
  }

  private async commitCreated(ops: StoreOp[], created: MemRow[]): Promise<void> {
    for (const row of created) ops.push({ type: 'row', row });
    if (created.length) ops.push({ type: 'seq', highWater: this.highWater });
    if (!ops.length) return;
    try {
      await this.store.commit(ops);
    } catch (err) {
      for (const r of created) this.remove(r);
      throw err;
    }
    this.publish(created);
  }

  private publish(created: MemRow[]): void {
    for (const row of created) {
      row.committed = true;
      const s = this.sessions.get(row.recipient);
      if (s) this.enqueue(s, row.seq);
    }
    for (const agent of new Set(created.map((r) => r.recipient))) {
      const s = this.sessions.get(agent);
      if (s) void this.pump(s);
    }
  }

  private enqueue(s: Session, seq: bigint): void {
    if (s.queued.has(seq)) return;
    s.queued.add(seq);
    s.queue.push(seq);
  }

  private async pump(s: Session): Promise<void> {
    if (s.pumping) return;
    s.pumping = true;
    try {
      while (!s.closed && s.queue.length) {
        const seq = s.queue.shift()!;
        s.queued.delete(seq);
        const row = this.rows.get(seq);
        if (!row || !row.committed || row.state !== 'PENDING' || row.recipient !== s.agentId) continue;
        const now = this.clock.now();
        if (row.expiresAt > 0 && row.expiresAt <= now) {
          const ops: StoreOp[] = [];
          const nacks: MemRow[] = [];
          this.drop(row, 'ttl_expired', now, ops, nacks);
          await this.commitCreated(ops, nacks);
          continue;
        }
        row.state = 'IN_FLIGHT';
        row.yieldedAt = now;
        row.attempts += 1;
        if (this.config.maxDeliveryAttempts > 0) void this.store.commit([{ type: 'row', row }], false).catch(() => undefined);
        const more = s.sink.write(encodeStreamItem(row.envelope, row.seq));
        const release = this.config.autoReleaseAgents;
        if (release.includes('*') || release.includes(s.agentId)) {
          this.remove(row);
          await this.store.commit([{ type: 'delRow', seq: row.seq }]);
        }
        if (!more && !s.closed) {
          await new Promise<void>((resolve) => {
            s.drainWaiter = resolve;
            s.sink.once('drain', resolve);
          });
          s.drainWaiter = undefined;
        }
      }
    } catch (err) {
      this.logger.error('delivery loop failed', { agentId: s.agentId, error: String(err) });
    } finally {
      s.pumping = false;
    }
  }

  private closeSession(s: Session): void {
    s.closed = true;
    s.drainWaiter?.();
    if (this.sessions.get(s.agentId) === s) this.sessions.delete(s.agentId);
  }

  private insert(row: MemRow): void {
    this.rows.set(row.seq, row);
    let m = this.byAgent.get(row.recipient);
    if (!m) this.byAgent.set(row.recipient, (m = new Map()));
    m.set(row.seq, row);
  }

  private remove(row: MemRow): void {
    this.rows.delete(row.seq);
    const m = this.byAgent.get(row.recipient);
    m?.delete(row.seq);
    if (m && m.size === 0) this.byAgent.delete(row.recipient);
  }
}
