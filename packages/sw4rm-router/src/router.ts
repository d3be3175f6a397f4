// SPDX-License-Identifier: Apache-2.0
// The SW4RM router (spec §3.1): durable per-recipient rows with per-recipient seq, delivery acks, leases, TTL,
// dedup, an in-flight window per agent, NACKs instead of silent drops, supersession, agent retention and drain.
// Every answer that reports a change is sent after the commit holding it is durable (group commit in the store).
import type { ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { Clock, Logger, RandomSource, TimerHandle } from '@ecps/core';
import { EcpsError, cryptoRandom, silentLogger, systemClock } from '@ecps/core';
import { AckStage, CONTENT_TYPES, ErrorCode, MessageType, NO_AUTH, buildEnvelope, encodeAckPayload, grpcStatusOf, normaliseEnum } from '@ecps/sw4rm';
import type { Authenticator, KvOp, KvStore } from '@ecps/sw4rm';
import { DeliveryAckOutcome, Envelope } from '@ecps/sw4rm/proto';
import type { DeliveryAckRequest, DeliveryAckResponse, SendMessageResponse, StreamRequest } from '@ecps/sw4rm/proto';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { AdmissionQueue } from './admission';
import type { RouterConfig } from './config';
import { DEFAULT_ROUTER_CONFIG } from './config';
import { decodeAgent, decodeDedup, decodeRow, encodeAgent, encodeDedup, encodeRow, keys } from './row-codec';
import type { RawSendRequest } from './wire';
import { encodeStreamItem } from './wire';

/** Options of {@link Sw4rmRouter.open}: any config field plus injectable clock, randomness, logger and store. */
export interface RouterOptions extends Partial<RouterConfig> {
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
  /** The durable store; default LevelDB at `dbPath`. The router owns it (closes it on close). */
  store?: KvStore;
}

/** The SendMessage answer. */
export interface SendResult {
  accepted: boolean;
  reason: string;
}

/** Options of {@link Sw4rmRouter.sendMessage}. */
export interface SendOptions {
  /** Unicast: only these known agents (in-process senders such as the scheduler); default every known agent. */
  to?: readonly string[];
  /** The caller's proven identity (undefined = authentication off): must be the envelope's producer. */
  identity?: string;
  auth?: Authenticator;
}

/** Where a stream session writes: a grpc-js server stream or any test double. */
export interface StreamSink {
  write(item: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  /** Ends the stream with a gRPC status (ABORTED on supersession, UNAVAILABLE on shutdown). */
  fail(code: Status, details: string): void;
}

interface Session {
  agent: AgentState;
  sink: StreamSink;
  queue: bigint[];
  queued: Set<bigint>;
  pumping: boolean;
  closed: boolean;
  drainWaiter?: () => void;
}

interface AgentState {
  id: string;
  highWater: bigint;
  /**
   * The high-water mark its stored record holds. A stored row is its own witness of its `seq`, so the record is
   * written only when a row above this mark is deleted (in the deleting commit): one write per many messages,
   * never one per send, and a restart still never reuses a `seq`.
   */
  storedHighWater: bigint;
  lastSeenMs: number;
  /** Deregistered: forgotten once no stream is open. */
  departed: boolean;
  rows: Map<bigint, MemRow>;
  inFlight: number;
  nacks: number;
}

interface MemRow {
  agent: AgentState;
  seq: bigint;
  envelope: Uint8Array;
  messageId: string;
  producerId: string;
  correlationId: string;
  kind: 'msg' | 'nack';
  enqueuedAt: number;
  expiresAt: number;
  attempts: number;
  state: 'PENDING' | 'IN_FLIGHT';
  yieldedAt: number;
  committed: boolean;
}

interface DedupEntry {
  original: string;
  acceptedAt: number;
  /** Set until the original's commit is durable: a duplicate answers only after it. */
  durable?: Promise<void>;
}

type NackCause = 'buffer_full' | 'ttl_expired' | 'delivery_attempts_exhausted' | 'agent_forgotten';
const NACKS: Record<NackCause, [AckStage, ErrorCode]> = {
  buffer_full: [AckStage.REJECTED, ErrorCode.BUFFER_FULL],
  ttl_expired: [AckStage.FAILED, ErrorCode.TTL_EXPIRED],
  delivery_attempts_exhausted: [AckStage.FAILED, ErrorCode.AGENT_UNAVAILABLE],
  agent_forgotten: [AckStage.FAILED, ErrorCode.AGENT_UNAVAILABLE],
};

/** The router. Create with {@link Sw4rmRouter.open}; expose with {@link Sw4rmRouter.grpcImplementation}. */
export class Sw4rmRouter {
  readonly config: RouterConfig;
  private readonly agents = new Map<string, AgentState>();
  /** Dedup records in accept order: pruning walks from the front and stops at the first live one. */
  private readonly dedup = new Map<string, DedupEntry>();
  /** IN_FLIGHT rows in yield order: lease expiry walks from the front. */
  private readonly inFlight = new Set<MemRow>();
  /** Rows with a TTL (the only ones the sweeper checks for expiry while pending). */
  private readonly ttlRows = new Set<MemRow>();
  private readonly sessions = new Map<string, Session>();
  /** Sends held for room in full recipient queues (`fullWaitMs`). */
  private readonly admission: AdmissionQueue<string>;
  /** Known agent ids sorted, rebuilt only when an agent is added or forgotten (not on every broadcast). */
  private sortedAgents: string[] | undefined;
  private draining = false;
  private closed = false;
  private sweepTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;

  private constructor(
    private readonly store: KvStore,
    options: RouterOptions,
  ) {
    const { clock, random, logger, store: _store, ...config } = options;
    this.config = { ...DEFAULT_ROUTER_CONFIG, ...config };
    this.clock = clock ?? systemClock;
    this.random = random ?? cryptoRandom;
    this.logger = logger ?? silentLogger;
    this.admission = new AdmissionQueue({ maxSends: this.config.maxHeldSends, maxBytes: this.config.maxHeldBytes }, this.clock);
  }

  /**
   * Opens the store (restoring rows as PENDING, known agents with their seq high-water marks and dedup records)
   * and starts the lease/TTL/retention sweeper.
   * @throws EcpsError IO_ERROR when the store cannot be opened; LOG_CORRUPT for unreadable records.
   */
  static async open(options: RouterOptions = {}): Promise<Sw4rmRouter> {
    const store = options.store ?? (await LevelKvStore.open(options.dbPath ?? DEFAULT_ROUTER_CONFIG.dbPath));
    const router = new Sw4rmRouter(store, options);
    try {
      await router.restore();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    router.scheduleSweep();
    return router;
  }

  private async restore(): Promise<void> {
    for (const [key, value] of await this.store.load('a/')) {
      const rec = decodeAgent(value);
      this.remember(key.slice(2), rec.lastSeenMs, rec.highWater).storedHighWater = rec.highWater;
    }
    for (const [key, value] of await this.store.load('r/')) {
      const { agentId, seq } = keys.parseRow(key);
      const rec = decodeRow(value);
      const agent = this.agents.get(agentId) ?? this.remember(agentId, this.clock.now());
      if (seq > agent.highWater) agent.highWater = seq;
      const env = Envelope.decode(rec.envelope);
      // restart: IN_FLIGHT → PENDING (same seq)
      this.insert({ agent, seq, envelope: rec.envelope, messageId: env.messageId, producerId: env.producerId, correlationId: env.correlationId, kind: rec.kind, enqueuedAt: rec.enqueuedAt, expiresAt: rec.expiresAt, attempts: rec.attempts, state: 'PENDING', yieldedAt: 0, committed: true });
    }
    const dedup = (await this.store.load('d/')).map(([key, value]) => [key.slice(2), decodeDedup(value)] as const);
    dedup.sort(([, a], [, b]) => a.acceptedAt - b.acceptedAt);
    for (const [key, rec] of dedup) this.dedup.set(key, rec);
  }

  /** True once {@link drain} started. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Rows waiting or in flight for an agent, ascending `seq` (for status and tests). */
  pendingFor(agentId: string): { seq: bigint; messageId: string; state: 'PENDING' | 'IN_FLIGHT' }[] {
    const rows = [...(this.agents.get(agentId)?.rows.values() ?? [])].sort((a, b) => (a.seq < b.seq ? -1 : 1));
    return rows.map((r) => ({ seq: r.seq, messageId: r.messageId, state: r.state }));
  }

  /** Live dedup records (for status and tests). */
  get dedupSize(): number {
    return this.dedup.size;
  }

  /** Resolves once every commit issued so far is durable (a no-op commit queued behind them). */
  async idle(): Promise<void> {
    if (!this.closed) await this.store.commit([{ type: 'del', key: 'x/idle' }]);
  }

  /** Known agents, sorted. */
  knownAgents(): string[] {
    return [...this.broadcastTargets()];
  }

  /** Persists an agent as known (fixture seeding; StreamIncoming does this too). @throws EcpsError RESOURCE_EXHAUSTED past the agent limit. */
  async addKnownAgent(agentId: string): Promise<void> {
    const now = this.clock.now();
    const known = this.agents.get(agentId);
    if (known) {
      known.departed = false;
      known.lastSeenMs = now;
      return;
    }
    if (this.agents.size >= this.config.maxKnownAgents) {
      throw new EcpsError('RESOURCE_EXHAUSTED', `router knows ${this.agents.size} agents (max ${this.config.maxKnownAgents})`);
    }
    const agent = this.remember(agentId, now);
    await this.store.commit([this.agentOp(agent)]);
  }

  /**
   * An agent left (e.g. deregistered from the registry): it is forgotten once it has no open stream — its rows are
   * dropped with AGENT_UNAVAILABLE NACKs to their producers and it is no longer a broadcast target.
   */
  async forgetAgent(agentId: string): Promise<void> {
    const agent = this.agents.get(agentId);
    if (!agent) return;
    agent.departed = true;
    if (!this.sessions.has(agentId)) await this.forget(agent, this.clock.now());
  }

  /**
   * SendMessage (spec §3.1 steps 1–9) on the raw envelope bytes.
   * @throws EcpsError IO_ERROR when the commit fails; PERMISSION_DENIED when the caller is not the producer.
   */
  async sendMessage(raw: Uint8Array | undefined, options: SendOptions = {}): Promise<SendResult> {
    if (this.draining || this.closed) return { accepted: false, reason: 'Router service is shutting down' };
    if (!raw) return { accepted: false, reason: 'validation_error: msg is required' };
    let env: Envelope;
    try {
      env = Envelope.decode(raw);
    } catch (err) {
      return { accepted: false, reason: `validation_error: envelope does not decode (${String(err)})` };
    }
    (options.auth ?? NO_AUTH).authorize(options.identity, env.producerId, 'send messages');
    if (!env.messageId) return { accepted: false, reason: 'validation_error: message_id is required' };
    if (!env.producerId) return { accepted: false, reason: 'validation_error: producer_id is required' };
    if (env.contentLength !== 0n && env.contentLength !== BigInt(env.payload.length)) {
      return { accepted: false, reason: `validation_error: content_length ${env.contentLength} != payload length ${env.payload.length}` };
    }
    if (env.payload.length > this.config.maxPayloadBytes) {
      return { accepted: false, reason: `oversize_payload: ${env.payload.length} > ${this.config.maxPayloadBytes}` };
    }
    let now = this.clock.now();
    const dedupKeys = [`${env.producerId}\u0000m:${env.messageId}`];
    if (env.idempotencyToken) dedupKeys.push(`${env.producerId}\u0000t:${env.idempotencyToken}`);
    if (this.config.dedupWindowMs > 0) {
      for (const k of dedupKeys) {
        const rec = this.dedup.get(k);
        if (!rec || rec.acceptedAt + this.config.dedupWindowMs <= now) continue;
        if (rec.durable) {
          try {
            await rec.durable;
          } catch {
            return this.sendMessage(raw, options); // the original was never stored: this copy is new
          }
        }
        return { accepted: true, reason: `Duplicate of ${rec.original} suppressed` };
      }
    }
    const type = normaliseEnum(MessageType, env.messageType);
    if (type === MessageType.ACKNOWLEDGEMENT && this.config.ackMode === 'swallow') return { accepted: true, reason: 'ACK message accepted' };
    const candidates = options.to ? [...new Set(options.to)].filter((a) => this.agents.has(a)).sort() : this.broadcastTargets();
    const targets = candidates.filter((a) => a !== env.producerId);
    if (targets.length === 0) return { accepted: false, reason: 'No recipients available' };
    if (targets.length > this.config.maxFanout) {
      return { accepted: false, reason: `overloaded: ${targets.length} recipients exceed the fan-out limit ${this.config.maxFanout}` };
    }

    const held = targets.some((t) => this.blocks(t, true)) ? await this.holdWhileFull(targets, raw.length, dedupKeys, env.messageId) : undefined;
    if (held?.shuttingDown) return { accepted: false, reason: 'Router service is shutting down' };
    if (held) now = this.clock.now();
    try {
      const expiresAt = env.ttlMs > 0n ? now + Number(env.ttlMs) : 0;
      const created: MemRow[] = [];
      const full: string[] = [];
      for (const target of targets) {
        const agent = this.agents.get(target);
        if (!agent) continue; // forgotten while the send was held
        if (agent.rows.size < this.config.maxQueue) created.push(this.newRow(agent, raw, env, 'msg', expiresAt, now));
        else full.push(target);
      }
      if (held) this.admitHeldFor(targets); // rooms this send did not take go to the sends behind it
      const nMsg = created.length;
      for (const target of full) {
        const nack = this.nackRow(env, 'buffer_full', target, now);
        if (nack) created.push(nack);
      }
      const ops: KvOp[] = [];
      const recorded: string[] = [];
      if (nMsg > 0 && this.config.dedupWindowMs > 0) {
        for (const key of dedupKeys) {
          const rec: DedupEntry = { original: env.messageId, acceptedAt: now };
          this.dedup.delete(key); // re-insert at the back: the map stays in accept order
          this.dedup.set(key, rec);
          recorded.push(key);
          ops.push({ type: 'put', key: keys.dedup(key), value: encodeDedup(rec) });
        }
      }
      const commit = this.commitRows(ops, created);
      for (const key of recorded) this.dedup.get(key)!.durable = commit;
      held?.settle(nMsg > 0 ? commit : undefined);
      try {
        await commit;
      } catch (err) {
        for (const key of recorded) if (this.dedup.get(key)?.durable === commit) this.dedup.delete(key);
        throw err;
      }
      for (const key of recorded) {
        const rec = this.dedup.get(key);
        if (rec?.durable === commit) delete rec.durable;
      }
      if (full.length) this.logger.warn('recipient queue full', { messageId: env.messageId, full });
      if (created.length + full.length === 0) return { accepted: false, reason: 'No recipients available' };
      const fullNote = full.length ? `buffer_full: ${full.join(',')}` : '';
      if (nMsg === 0) return { accepted: false, reason: fullNote };
      return { accepted: true, reason: `Message delivered to ${nMsg} recipients${fullNote ? `; ${fullNote}` : ''}` };
    } finally {
      held?.settle(undefined); // a throw before the rows were handed over: the reserved keys must not wait forever
    }
  }

  /** `target`'s queue is full, or (for a send not yet held) earlier sends wait for it. */
  private blocks(target: string, fresh: boolean): boolean {
    const agent = this.agents.get(target);
    return agent !== undefined && (agent.rows.size >= this.config.maxQueue || (fresh && this.admission.waitingFor(target) > 0));
  }

  /**
   * Holds a send until every target has room, `fullWaitMs` pass or the router drains. Its dedup keys are reserved
   * meanwhile, so a retry of the held send waits for its outcome instead of being stored twice; `settle` hands
   * them the commit (rows created) or releases them (nothing stored: a retry is new). Only its first call counts.
   */
  private async holdWhileFull(targets: readonly string[], bytes: number, dedupKeys: readonly string[], messageId: string): Promise<{ shuttingDown: boolean; settle(commit: Promise<void> | undefined): void }> {
    let outcome!: { resolve: (commit: Promise<void>) => void; reject: (reason: Error) => void };
    const durable = new Promise<void>((resolve, reject) => (outcome = { resolve, reject }));
    durable.catch(() => undefined);
    const reserved: DedupEntry[] = [];
    if (this.config.dedupWindowMs > 0) {
      for (const key of dedupKeys) {
        const rec: DedupEntry = { original: messageId, acceptedAt: this.clock.now(), durable };
        this.dedup.delete(key);
        this.dedup.set(key, rec);
        reserved.push(rec);
      }
    }
    let settled = false;
    const settle = (commit: Promise<void> | undefined): void => {
      if (settled) return;
      settled = true;
      for (const [i, key] of dedupKeys.entries()) if (this.dedup.get(key) === reserved[i]) this.dedup.delete(key);
      if (commit) outcome.resolve(commit);
      else outcome.reject(new Error('not stored'));
    };
    const deadline = this.clock.now() + this.config.fullWaitMs;
    let blocked = targets.filter((t) => this.blocks(t, true));
    for (let first = false; blocked.length; first = true) {
      if (!(await this.admission.wait(blocked, bytes, deadline, first))) break;
      if (this.draining || this.closed) {
        settle(undefined);
        return { shuttingDown: true, settle };
      }
      blocked = targets.filter((t) => this.blocks(t, false));
      // still blocked elsewhere: the rooms it found are not kept from sends queued behind it
      if (blocked.length) this.admitHeldFor(targets);
    }
    return { shuttingDown: false, settle };
  }

  /** Offers the room left in each of `targets`' queues to the sends held for it. */
  private admitHeldFor(targets: readonly string[]): void {
    for (const t of targets) {
      const agent = this.agents.get(t);
      if (agent) this.admitHeld(agent);
    }
  }

  /**
   * Opens the delivery stream of `agentId`: persists the agent, supersedes an older stream (ABORTED), resets
   * its IN_FLIGHT rows to PENDING and replays them first, then pending rows, then new rows as they arrive — at most
   * `maxInFlight` unacknowledged at a time. Returns a function to call when the client goes away.
   * @throws EcpsError PERMISSION_DENIED (caller is another agent), RESOURCE_EXHAUSTED (agent limit).
   */
  async openStream(agentId: string, sink: StreamSink, identity?: string, auth: Authenticator = NO_AUTH): Promise<() => void> {
    auth.authorize(identity, agentId, 'read the stream');
    await this.addKnownAgent(agentId);
    const agent = this.agents.get(agentId)!;
    const old = this.sessions.get(agentId);
    if (old) {
      this.logger.warn('stream superseded by a newer one', { agentId });
      this.closeSession(old);
      old.sink.fail(Status.ABORTED, 'superseded by a newer stream of the same agent');
    }
    const session: Session = { agent, sink, queue: [], queued: new Set(), pumping: false, closed: false };
    this.sessions.set(agentId, session);
    const mine = [...agent.rows.values()].sort((a, b) => (a.seq < b.seq ? -1 : 1));
    const inFlight = mine.filter((r) => r.state === 'IN_FLIGHT');
    for (const r of inFlight) this.toPending(r);
    for (const r of [...inFlight, ...mine.filter((r) => !inFlight.includes(r))]) this.enqueue(session, r.seq);
    void this.pump(session);
    return () => this.closeSession(session);
  }

  /**
   * AckDelivery (spec §3.1): true only for the owner's IN_FLIGHT row; the delete is written (not fsync'd) before it answers.
   * @throws EcpsError PERMISSION_DENIED when the caller is not `agent_id`; IO_ERROR when the commit fails.
   */
  async ackDelivery(req: DeliveryAckRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<boolean> {
    auth.authorize(identity, req.agentId, 'acknowledge deliveries');
    const outcome = normaliseEnum(DeliveryAckOutcome, req.outcome);
    if (!req.agentId || req.seq <= 0n || (outcome !== 0 && outcome !== 1)) return false;
    const agent = this.agents.get(req.agentId);
    const row = agent?.rows.get(req.seq); // seq is per recipient: another agent's rows are not even addressable
    if (!agent || !row || !row.committed) return false;
    if (req.messageId && req.messageId !== row.messageId) return false;
    if (row.state !== 'IN_FLIGHT') return false;
    this.remove(row);
    // the window slot is free now, not once the delete is written: the next row streams while the write is queued
    this.wake(agent);
    try {
      // handed to LevelDB before the answer (survives kill -9) but not fsync'd: a power loss can only bring the row
      // back for a redelivery, which consumers tolerate anyway; an ack never waits for an fsync of its own
      await this.deleteRows(agent, [row.seq], false);
    } catch (err) {
      row.state = 'PENDING';
      this.insert(row);
      throw err;
    }
    if (outcome === 1) this.logger.warn('delivery discarded by consumer (PERMANENT_FAILURE)', { messageId: row.messageId, seq: String(row.seq) });
    return true;
  }

  /** One sweep: lease expiry (→ PENDING, redelivered), TTL expiry (→ NACK), dedup pruning, agent retention. */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    const ops: KvOp[] = [];
    const nacks: MemRow[] = [];
    const woken = new Set<AgentState>();
    for (const row of this.inFlight) {
      if (row.yieldedAt + this.config.leaseMs > now) break; // yield order: the rest are younger
      if (row.expiresAt > 0 && row.expiresAt <= now) this.drop(row, 'ttl_expired', now, ops, nacks);
      else if (this.config.maxDeliveryAttempts > 0 && row.attempts >= this.config.maxDeliveryAttempts) {
        this.drop(row, 'delivery_attempts_exhausted', now, ops, nacks);
      } else {
        this.toPending(row);
        const s = this.sessions.get(row.agent.id);
        if (s) this.enqueue(s, row.seq);
      }
      woken.add(row.agent);
    }
    for (const row of this.ttlRows) {
      if (row.state === 'PENDING' && row.committed && row.expiresAt <= now) this.drop(row, 'ttl_expired', now, ops, nacks);
    }
    const window = this.config.dedupWindowMs;
    for (const [key, rec] of this.dedup) {
      if (rec.acceptedAt + window > now && this.dedup.size <= this.config.maxDedupRecords) break;
      if (rec.durable) break;
      this.dedup.delete(key);
      ops.push({ type: 'del', key: keys.dedup(key) });
    }
    for (const agent of this.agents.values()) {
      if (this.sessions.has(agent.id)) continue;
      if (agent.departed || agent.lastSeenMs + this.config.agentRetentionMs <= now) this.forgetInto(agent, now, ops, nacks);
    }
    for (const agent of woken) this.wake(agent);
    await this.commitRows(ops, nacks);
  }

  /** Drain: refuse SendMessage, keep AckDelivery, end streams with UNAVAILABLE after `graceMs`, close the store. */
  async drain(graceMs = this.config.drainGraceMs): Promise<void> {
    this.draining = true;
    this.admission.releaseAll();
    if (graceMs > 0) await new Promise<void>((r) => this.clock.setTimeout(r, graceMs));
    await this.close();
  }

  /** Ends every stream (UNAVAILABLE), stops the sweeper and closes the store. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopEverything();
    for (const s of [...this.sessions.values()]) {
      this.closeSession(s);
      s.sink.fail(Status.UNAVAILABLE, 'Router service is shutting down');
    }
    await this.store.close();
  }

  /**
   * Crash tests: stop as `kill -9` would — no stream is told, commits not yet written are dropped and never
   * answered, the store is released without a clean close.
   */
  async crash(): Promise<void> {
    if (this.closed) return;
    this.stopEverything();
    for (const s of [...this.sessions.values()]) this.closeSession(s);
    await (this.store.abandon ? this.store.abandon() : this.store.close());
  }

  /** grpc-js handlers for `RAW_ROUTER_SERVICE`; `auth` identifies callers (the hosting server's). */
  grpcImplementation(auth: Authenticator = NO_AUTH): UntypedServiceImplementation {
    const fail = (err: unknown) => ({ code: grpcStatusOf(err), details: err instanceof Error ? err.message : String(err) }) as never;
    return {
      SendMessage: (call: ServerUnaryCall<RawSendRequest, SendMessageResponse>, cb: sendUnaryData<SendMessageResponse>) => {
        auth
          .identify(call)
          .then((identity) => this.sendMessage(call.request.envelope, { identity, auth }))
          .then(
            (r) => cb(null, r),
            (err: unknown) => cb(fail(err), null),
          );
      },
      StreamIncoming: (call: ServerWritableStream<StreamRequest, Buffer>) => {
        const agentId = call.request.agentId;
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
        // identity first: a caller that proves nothing learns nothing, not even that its request was malformed
        auth.identify(call).then(
          (identity) => {
            if (!agentId) return call.emit('error', { code: Status.INVALID_ARGUMENT, details: 'agent_id is required' });
            if (this.closed) return call.emit('error', { code: Status.UNAVAILABLE, details: 'Router service is shutting down' });
            return this.openStream(agentId, sink, identity, auth).then(
              (close) => {
                done = close;
                if (gone) close();
              },
              (err: unknown) => call.emit('error', fail(err)),
            );
          },
          (err: unknown) => call.emit('error', fail(err)),
        );
      },
      AckDelivery: (call: ServerUnaryCall<DeliveryAckRequest, DeliveryAckResponse>, cb: sendUnaryData<DeliveryAckResponse>) => {
        auth
          .identify(call)
          .then((identity) => this.ackDelivery(call.request, identity, auth))
          .then(
            (recorded) => cb(null, { recorded }),
            (err: unknown) => cb(fail(err), null),
          );
      },
    };
  }

  private stopEverything(): void {
    this.closed = true;
    this.draining = true;
    this.admission.releaseAll();
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private scheduleSweep(): void {
    if (this.closed) return;
    // the next tick is armed before this sweep's commit is awaited: sweeps never stall behind slow fsyncs
    this.sweepTimer = this.clock.setTimeout(() => {
      this.scheduleSweep();
      this.sweep().catch((err: unknown) => this.logger.error('sweep failed', { error: String(err) }));
    }, this.config.sweepIntervalMs);
  }

  private newAgent(id: string, highWater: bigint, lastSeenMs: number): AgentState {
    return { id, highWater, storedHighWater: 0n, lastSeenMs, departed: false, rows: new Map(), inFlight: 0, nacks: 0 };
  }

  private remember(agentId: string, now: number, highWater = 0n): AgentState {
    const agent = this.newAgent(agentId, highWater, now);
    this.agents.set(agentId, agent);
    this.sortedAgents = undefined;
    return agent;
  }

  private broadcastTargets(): readonly string[] {
    return (this.sortedAgents ??= [...this.agents.keys()].sort());
  }

  private agentOp(agent: AgentState): KvOp {
    return { type: 'put', key: keys.agent(agent.id), value: encodeAgent({ highWater: agent.highWater, lastSeenMs: agent.lastSeenMs }) };
  }

  private async forget(agent: AgentState, now: number): Promise<void> {
    const ops: KvOp[] = [];
    const nacks: MemRow[] = [];
    this.forgetInto(agent, now, ops, nacks);
    await this.commitRows(ops, nacks);
  }

  private forgetInto(agent: AgentState, now: number, ops: KvOp[], nacks: MemRow[]): void {
    this.agents.delete(agent.id);
    this.sortedAgents = undefined;
    ops.push({ type: 'del', key: keys.agent(agent.id) });
    for (const row of [...agent.rows.values()]) this.drop(row, 'agent_forgotten', now, ops, nacks);
    this.logger.info('agent forgotten', { agentId: agent.id, departed: agent.departed });
  }

  private newRow(agent: AgentState, envelope: Uint8Array, env: Envelope, kind: 'msg' | 'nack', expiresAt: number, now: number): MemRow {
    agent.highWater += 1n;
    const row: MemRow = {
      agent,
      seq: agent.highWater,
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
    const producer = this.agents.get(original.producerId);
    if (!producer || original.producerId === this.config.routerId) return undefined;
    if (normaliseEnum(MessageType, original.messageType) === MessageType.ACKNOWLEDGEMENT) return undefined; // never NACK an ACK
    if (producer.nacks >= this.config.maxQueue) return undefined;
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
    return this.newRow(producer, Envelope.encode(nack).finish(), nack, 'nack', 0, now);
  }

  private drop(row: MemRow, cause: NackCause, now: number, ops: KvOp[], nacks: MemRow[]): void {
    this.remove(row);
    ops.push({ type: 'del', key: keys.row(row.agent.id, row.seq) });
    if (row.seq > row.agent.storedHighWater && this.agents.get(row.agent.id) === row.agent) {
      ops.push(this.agentOp(row.agent)); // the row witnessed its seq until now (see AgentState.storedHighWater)
      row.agent.storedHighWater = row.agent.highWater;
    }
    const original = { messageId: row.messageId, producerId: row.producerId, correlationId: row.correlationId, messageType: row.kind === 'nack' ? MessageType.ACKNOWLEDGEMENT : MessageType.DATA };
    const nack = row.kind === 'msg' ? this.nackRow(original, cause, row.agent.id, now) : undefined;
    if (nack) nacks.push(nack);
    this.logger.warn('delivery dropped', { cause, messageId: row.messageId, recipient: row.agent.id, seq: String(row.seq) });
  }

  /**
   * Deletes rows of `agent` from the store — with its high-water mark when a deleted row was its only witness — and
   * resolves once written (fsync'd when `durable`).
   */
  private async deleteRows(agent: AgentState, seqs: readonly bigint[], durable: boolean): Promise<void> {
    const ops: KvOp[] = seqs.map((seq) => ({ type: 'del', key: keys.row(agent.id, seq) }));
    const witness = seqs.some((seq) => seq > agent.storedHighWater) && this.agents.get(agent.id) === agent;
    const mark = agent.highWater;
    if (witness) ops.push(this.agentOp(agent));
    await this.store.commit(ops, durable);
    if (witness && mark > agent.storedHighWater) agent.storedHighWater = mark;
  }

  /** Commits `ops` plus the created rows (each row is the stored witness of its seq), then publishes the rows. */
  private async commitRows(ops: KvOp[], created: MemRow[]): Promise<void> {
    const agents = new Set<AgentState>();
    for (const row of created) {
      ops.push({ type: 'put', key: keys.row(row.agent.id, row.seq), value: encodeRow(row) });
      agents.add(row.agent);
    }
    if (!ops.length) return;
    try {
      await this.store.commit(ops);
    } catch (err) {
      for (const r of created) this.remove(r);
      throw err;
    }
    for (const row of created) {
      row.committed = true;
      const s = this.sessions.get(row.agent.id);
      if (s) this.enqueue(s, row.seq);
    }
    for (const agent of agents) this.wake(agent);
  }

  private wake(agent: AgentState): void {
    const s = this.sessions.get(agent.id);
    if (s && s.agent === agent) void this.pump(s);
  }

  private enqueue(s: Session, seq: bigint): void {
    if (s.queued.has(seq)) return;
    s.queued.add(seq);
    s.queue.push(seq);
  }

  private async pump(s: Session): Promise<void> {
    if (s.pumping) return;
    s.pumping = true;
    const agent = s.agent;
    try {
      while (!s.closed && s.queue.length && agent.inFlight < this.config.maxInFlight) {
        const seq = s.queue.shift()!;
        s.queued.delete(seq);
        const row = agent.rows.get(seq);
        if (!row || !row.committed || row.state !== 'PENDING') continue;
        const now = this.clock.now();
        if (row.expiresAt > 0 && row.expiresAt <= now) {
          const ops: KvOp[] = [];
          const nacks: MemRow[] = [];
          this.drop(row, 'ttl_expired', now, ops, nacks);
          await this.commitRows(ops, nacks);
          continue;
        }
        row.state = 'IN_FLIGHT';
        row.yieldedAt = now;
        row.attempts += 1;
        agent.inFlight++;
        this.inFlight.add(row);
        if (this.config.maxDeliveryAttempts > 0) {
          void this.store.commit([{ type: 'put', key: keys.row(agent.id, row.seq), value: encodeRow(row) }], false).catch(() => undefined);
        }
        const more = s.sink.write(encodeStreamItem(row.envelope, row.seq));
        const release = this.config.autoReleaseAgents;
        if (release.includes('*') || release.includes(agent.id)) {
          this.remove(row);
          await this.deleteRows(agent, [row.seq], true);
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
      this.logger.error('delivery loop failed', { agentId: agent.id, error: String(err) });
    } finally {
      s.pumping = false;
    }
  }

  private closeSession(s: Session): void {
    s.closed = true;
    s.drainWaiter?.();
    if (this.sessions.get(s.agent.id) === s) {
      this.sessions.delete(s.agent.id);
      s.agent.lastSeenMs = this.clock.now();
      // retention counts from here, across restarts too (losing this write only delays forgetting)
      if (!this.closed && this.agents.get(s.agent.id) === s.agent) void this.store.commit([this.agentOp(s.agent)], false).catch(() => undefined);
    }
  }

  private toPending(row: MemRow): void {
    if (row.state === 'IN_FLIGHT') {
      row.agent.inFlight--;
      this.inFlight.delete(row);
    }
    row.state = 'PENDING';
  }

  private insert(row: MemRow): void {
    row.agent.rows.set(row.seq, row);
    if (row.kind === 'nack') row.agent.nacks++;
    if (row.expiresAt > 0) this.ttlRows.add(row);
    if (row.state === 'IN_FLIGHT') {
      row.agent.inFlight++;
      this.inFlight.add(row);
    }
  }

  /**
   * Sends held for `agent` are let in once there is room for all of them or for a quarter of its queue, as many as
   * fit: sends admitted together share a commit and a stream write, where one send per ack would pay each alone.
   */
  private admitHeld(agent: AgentState): void {
    const waiting = this.admission.waitingFor(agent.id);
    const room = this.config.maxQueue - agent.rows.size;
    if (waiting === 0 || room < Math.min(waiting, Math.max(1, this.config.maxQueue >> 2))) return;
    for (let i = 0; i < room && this.admission.waitingFor(agent.id) > 0; i++) this.admission.freed(agent.id);
  }

  private remove(row: MemRow): void {
    if (!row.agent.rows.delete(row.seq)) return;
    this.admitHeld(row.agent);
    if (row.kind === 'nack') row.agent.nacks--;
    this.ttlRows.delete(row);
    if (row.state === 'IN_FLIGHT') {
      row.agent.inFlight--;
      this.inFlight.delete(row);
    }
  }
}
