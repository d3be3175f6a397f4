// SPDX-License-Identifier: Apache-2.0
// A Transport wrapper that protects everything it sends and checks everything it receives before a handler sees it.
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  EVENT_TYPES,
  PubSubRpc,
  RPC_EVENT_TYPES,
  TransportError,
  correlationOf,
  cryptoRandom,
  encodeAck,
  eventTime,
  isEcpsError,
  nodeIdFromSource,
  nodeSource,
  perCorrelationRpcTopics,
  silentLogger,
  systemClock,
  uuidv4,
  type Clock,
  type PubSub,
  type EcpsEvent,
  type EventHandler,
  type Logger,
  type PublishOptions,
  type RandomSource,
  type RequestHandler,
  type RequestOptions,
  type RpcTopicScheme,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';
import type { Delegation } from '@ecps/proto/ext/v1';
import type { AuditSink } from './audit';
import { TrustError } from './errors';
import { IdentitySigner, type Identity } from './identity';
import type { KeyDirectory } from './key-directory';
import { parseTrustLevel, trustBehaviour, type TrustBehaviour, type TrustLevelName, type TrustLevelValue } from './levels';
import { MAX_SESSION_BATCH, Protector, type SealingKeys, type Unprotected } from './protect';
import type { Principal, Rbac } from './rbac';
import { ReplayGuard, type ReplayGuardOptions } from './replay-guard';
import { SessionManager, SessionReplayScope, type SessionOptions } from './session-manager';

/** What a received message is about, for mapping it to a permission. */
export interface MessageContext {
  /** `publish`: a pub/sub event; `request`: a request or stream request; `reply`: a reply or stream event. */
  readonly direction: 'publish' | 'request' | 'reply';
  /** The topic (publish) or service (request, reply). */
  readonly target: string;
  readonly event: EcpsEvent;
}

/** Default mapping: `publish:<topic>`, `call:<service>` for requests, `serve:<service>` for replies. */
export function defaultPermissionFor(ctx: MessageContext): { action: string; resource: string } {
  const action = ctx.direction === 'publish' ? 'publish' : ctx.direction === 'request' ? 'call' : 'serve';
  return { action, resource: ctx.target };
}

export interface SecureTransportOptions {
  /** This node: principal id and signing key (required from AUTHENTICATED up). */
  identity?: Identity;
  /** Peers' public keys (and this node's own, to hear itself). */
  keys: KeyDirectory;
  level: TrustLevelValue | TrustLevelName;
  /** Seal even below ENCRYPTION (true) or not even above it (false). Default: by level. */
  confidentiality?: boolean;
  /** Sealing keys (required when sealing). */
  sealing?: SealingKeys;
  /** Principals and roles (required from AUTHORIZED up unless `authorizer` is given). */
  principals?: Rbac;
  /** Replaces RBAC: decides whether `principal` (undefined when unknown) may do `action` on `resource`. */
  authorizer?: (principalId: string, principal: Principal | undefined, action: string, resource: string) => boolean;
  /**
   * Admission beyond the signature, from AUTHENTICATED up: called for every authenticated message; `false` rejects it
   * with `UNAUTHENTICATED` (`details.reason` `not-admitted`) before authorization, as if the sender were unknown.
   * For example a gate that admits a robot only after a fresh TPM quote of its boot state verified.
   */
  admit?: (principalId: string, ctx: MessageContext) => boolean;
  /** Maps a received message to the permission it needs. Default {@link defaultPermissionFor}. */
  permissionFor?: (ctx: MessageContext) => { action: string; resource: string };
  /** Receives an event per decision at AUDITED. */
  audit?: AuditSink;
  /** Options of the nonce caches (one per subscription, served service and request). */
  replay?: ReplayGuardOptions;
  /**
   * Session mode (AUTHENTICATED and AUTHORIZED only): one signed key exchange per peer pair, then every message
   * AEAD-sealed per peer (ChaCha20-Poly1305 through libsodium, or AES-256-GCM; agreed in the exchange), instead of a
   * signature (and a key agreement) per message. `true` for the defaults.
   * No non-repudiation: AUDITED refuses it. See the README's threat model.
   */
  session?: SessionOptions | boolean;
  /** Told about every rejected message (which is dropped; an authenticated but unauthorized request is answered with an error). */
  onReject?: (error: TrustError, ctx: MessageContext) => void;
  /** Default deadline of `request` and `requestStream`. Default 30000 ms (the spec's TRANSPORT_TIMEOUT_S). */
  requestTimeoutMs?: number;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

/** Publishes to one topic (session mode) made in one tick or while one to it is in flight, sent as one record. */
interface Queued {
  readonly events: EcpsEvent[];
  readonly options: PublishOptions | undefined;
  /** Sum of the events' data bytes. */
  bytes: number;
  sent: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/** Whether two publishes may share a record: same delivery options. */
function sameDelivery(a: PublishOptions | undefined, b: PublishOptions | undefined): boolean {
  return a?.qos === b?.qos && a?.expirySeconds === b?.expirySeconds;
}

/** Replay state of one receiving scope (subscription, served service, request). */
interface ReceiveScope {
  readonly guard: ReplayGuard;
  readonly windows?: SessionReplayScope;
}

const isThenable = (value: unknown): value is PromiseLike<void> => typeof (value as PromiseLike<void> | null | undefined)?.then === 'function';

/** Bytes reserved in each message for the envelope (signature, nonce, ids, sealing). */
export const SECURE_ENVELOPE_OVERHEAD = 2048;

/**
 * Wraps `inner` so that (by level) everything published is signed and sealed, and everything received is
 * unsealed, verified, replay-checked, checked against its destination and authorized before a handler sees it.
 * Rejected events are dropped (and reported to `onReject` and the audit sink); rejected requests are answered with
 * an error, so the requester gets `REMOTE_ERROR`.
 * @throws TrustError `CONFIG_INVALID` when the level needs an identity, sealing keys or principals that are missing.
 */
export function secureTransport(inner: Transport, options: SecureTransportOptions): SecureTransport {
  return new SecureTransport(inner, options);
}

export class SecureTransport implements Transport {
  readonly kind: string;
  readonly maxPayloadSize: number;
  readonly level: TrustLevelValue;
  readonly behaviour: TrustBehaviour;
  private readonly protector: Protector | undefined;
  /** Session mode's sessions, when on. */
  readonly sessions: SessionManager | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly delegations = new Map<string, Delegation[]>();
  private readonly nodeId: string;
  /** Every RPC endpoint over this wrapper, closed with it. */
  private readonly rpcs = new Set<PubSubRpc>();
  private readonly clientRpcs = new Map<string, PubSubRpc>();
  /** Session mode: per topic with a send scheduled or in flight, the publishes waiting for it. */
  private readonly outboxes = new Map<string, Queued[]>();
  private closed = false;

  constructor(
    private readonly inner: Transport,
    private readonly options: SecureTransportOptions,
  ) {
    this.level = parseTrustLevel(options.level);
    this.behaviour = trustBehaviour(this.level, options.confidentiality);
    this.kind = inner.kind;
    const active = this.behaviour.seal || this.behaviour.sign;
    this.maxPayloadSize = active ? Math.max(0, inner.maxPayloadSize - SECURE_ENVELOPE_OVERHEAD) : inner.maxPayloadSize;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.nodeId = options.identity?.id ?? 'anonymous';
    if (this.behaviour.authorize && !options.principals && !options.authorizer) {
      throw new TrustError('CONFIG_INVALID', 'AUTHORIZED and above need principals or an authorizer');
    }
    const session = options.session === true ? {} : options.session || undefined;
    if (session) {
      if (!this.behaviour.sign || !options.identity) throw new TrustError('CONFIG_INVALID', 'session mode needs AUTHENTICATED or AUTHORIZED and an identity');
      if (this.behaviour.audit) throw new TrustError('CONFIG_INVALID', 'AUDITED keeps a signature per message (non-repudiation): session mode is not available');
      this.sessions = new SessionManager({
        selfId: this.nodeId,
        signer: new IdentitySigner(options.identity),
        keys: options.keys,
        session,
        clock: this.clock,
        logger: this.logger,
        ...(options.random ? { random: options.random } : {}),
        onReject: (error, event) => this.reject(error, event.source, { action: 'handshake', resource: this.nodeId }, event, { direction: 'publish', target: 'session', event }),
      });
    }
    if (active) {
      this.protector = new Protector({
        senderId: this.nodeId,
        ...(options.identity ? { signer: new IdentitySigner(options.identity) } : {}),
        ...(this.sessions ? { session: this.sessions } : {}),
        keys: options.keys,
        ...(options.sealing ? { sealing: options.sealing } : {}),
        behaviour: this.behaviour,
        clock: this.clock,
        ...(options.random ? { random: options.random } : {}),
      });
    }
  }

  /** Forward messages whose `source` is `chain[0].delegator` with this chain (identity forwarding). */
  actFor(chain: readonly Delegation[]): void {
    const first = chain[0];
    if (!first) throw new TrustError('INVALID_ARGUMENT', 'empty delegation chain');
    this.delegations.set(first.delegator, [...chain]);
  }

  /** The inner transport's request/reply topics: this wrapper runs request/reply over them. */
  get rpcTopics(): RpcTopicScheme {
    return this.inner.rpcTopics ?? perCorrelationRpcTopics;
  }

  /** Connects the inner transport; in session mode it then listens for key exchanges and starts those with `session.peers`. */
  async connect(): Promise<void> {
    await this.inner.connect();
    await this.sessions?.start(this.inner);
  }

  /**
   * Session mode: runs (or joins) a key exchange with `peer`, e.g. before publishing to it the first time.
   * @throws TrustError `CONFIG_INVALID` without session mode; `TIMEOUT`, `CANCELLED`, `RESOURCE_EXHAUSTED`,
   *   `KEY_NOT_FOUND`, `KEY_REVOKED`, `SIGNATURE_INVALID`, `UNAUTHENTICATED` when the peer does not prove its identity.
   */
  handshake(peer: string): Promise<void> {
    if (!this.sessions) return Promise.reject(new TrustError('CONFIG_INVALID', 'session mode is off'));
    return this.sessions.handshake(peer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.sessions?.close();
    for (const rpc of this.rpcs) rpc.close();
    this.rpcs.clear();
    this.clientRpcs.clear();
    await this.inner.close();
  }

  /**
   * Protects and publishes `event`. In session mode, publishes to one topic made in the same tick (until the
   * microtask queue is drained, so promise continuations count), or while one to it is in flight, go out together
   * as one batched record (one AEAD per recipient for all of them, accepted all or none, in order); each call
   * resolves once the record carrying it was published.
   */
  publish(topic: string, event: EcpsEvent, options?: PublishOptions): Promise<void> {
    // not `async`: an async function returning the batch's promise would cost two more promise jobs per publish
    try {
      this.checkSize(event);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.sessions) return this.publishBatched(topic, event, options);
    return this.publishNow(topic, event, options);
  }

  private async publishNow(topic: string, event: EcpsEvent, options: PublishOptions | undefined): Promise<void> {
    await this.inner.publish(topic, await this.protect(event, topic), options);
  }

  private publishBatched(topic: string, event: EcpsEvent, options: PublishOptions | undefined): Promise<void> {
    let queue = this.outboxes.get(topic);
    if (!queue) {
      // nothing scheduled or in flight for this topic: send at the end of this tick, with what else it publishes
      queue = [];
      this.outboxes.set(topic, queue);
      // once the microtask queue is drained: publishes made by promise continuations meanwhile (a caller keeping
      // several in flight) join this record too
      process.nextTick(() => this.flushOutbox(topic));
    }
    const last = queue[queue.length - 1];
    if (last && last.events.length < MAX_SESSION_BATCH && last.bytes + event.data.length <= this.maxPayloadSize && sameDelivery(last.options, options)) {
      last.events.push(event);
      last.bytes += event.data.length;
      return last.sent;
    }
    const entry = { events: [event], options, bytes: event.data.length } as Queued;
    entry.sent = new Promise<void>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    queue.push(entry);
    return entry.sent;
  }

  /** Sends the first publishes waiting for `topic`, and the next ones once that settled. */
  private flushOutbox(topic: string): void {
    const queue = this.outboxes.get(topic)!;
    const next = queue.shift();
    if (!next) {
      this.outboxes.delete(topic);
      return;
    }
    let sent: Promise<void>;
    try {
      sent = this.sendQueued(topic, next);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => {
        this.flushOutbox(topic);
        next.resolve();
      },
      (error: unknown) => {
        this.flushOutbox(topic);
        next.reject(error);
      },
    );
  }

  /** Publishes `queued` as one record, or one by one when it does not fit one message. Throws what protecting throws. */
  private sendQueued(topic: string, { events, options }: Queued): Promise<void> {
    const batch = events.length > 1 ? this.protectBatch(events, topic) : undefined;
    if (batch) return this.inner.publish(topic, batch, options);
    if (events.length === 1) return this.inner.publish(topic, this.protect(events[0]!, topic) as EcpsEvent, options);
    return (async () => {
      for (const event of events) await this.inner.publish(topic, this.protect(event, topic) as EcpsEvent, options);
    })();
  }

  /** A batched record of `events` to `topic`, or undefined when they do not fit one message. */
  private protectBatch(events: readonly EcpsEvent[], topic: string): EcpsEvent | undefined {
    const chains = events.map((event) => this.delegationsFor(event));
    return this.protector!.protectBatch(events, topic, chains, this.maxPayloadSize);
  }

  subscribe(filter: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    const replay = this.receiveScope();
    return this.inner.subscribe(
      filter,
      // not `async`: a session message is checked synchronously, and a synchronous handler then costs no promise
      (outer, topic) => {
        const ctx: MessageContext = { direction: 'publish', target: topic, event: outer };
        try {
          const pending = this.accept(outer, topic, ctx, replay);
          if (pending instanceof Promise) return pending.then((accepted) => (accepted ? handler(accepted.event, topic) : undefined));
          if (!pending) return;
          if (!Array.isArray(pending)) return handler((pending as Unprotected).event, topic);
          return this.deliverEach(pending as readonly Unprotected[], 0, handler, topic, ctx);
        } catch (error) {
          return Promise.reject(error); // as the async handler it replaces: a handler's error never throws into the transport
        }
      },
      options,
    );
  }

  /**
   * Hands the messages of a batched record from `from` on to `handler` in order, each checked first; synchronously
   * while the handler returns synchronously, else each after the previous one's promise settled.
   */
  private deliverEach(messages: readonly Unprotected[], from: number, handler: EventHandler, topic: string, ctx: MessageContext): void | Promise<void> {
    for (let i = from; i < messages.length; i++) {
      const ok = this.checked(messages[i]!, ctx);
      if (!ok) continue;
      const result = handler(ok.event, topic);
      if (isThenable(result)) return result.then(() => this.deliverEach(messages, i + 1, handler, topic, ctx));
    }
  }

  async request(service: string, request: EcpsEvent, options?: RequestOptions): Promise<EcpsEvent> {
    this.checkSize(request);
    if (!this.protector) return this.inner.request(service, request, options);
    return this.clientRpc(service).request(service, request, options);
  }

  serve(service: string, handler: RequestHandler): Promise<Subscription> {
    if (!this.protector) return this.inner.serve(service, handler);
    return this.serverRpc(service, 'unary', (rpc) => rpc.serve(service, handler));
  }

  async *requestStream(service: string, request: EcpsEvent, options?: RequestOptions): AsyncIterable<EcpsEvent> {
    this.checkSize(request);
    if (!this.protector) return yield* this.inner.requestStream(service, request, options);
    yield* this.clientRpc(service).requestStream(service, request, options);
  }

  serveStream(service: string, handler: StreamHandler): Promise<Subscription> {
    if (!this.protector) return this.inner.serveStream(service, handler);
    return this.serverRpc(service, 'stream', (rpc) => rpc.serveStream(service, handler));
  }

  /** The requester side of `service`: one per service, so every reply and stream message is checked for it. */
  private clientRpc(service: string): PubSubRpc {
    let rpc = this.clientRpcs.get(service);
    if (!rpc) {
      rpc = this.rpcOver(service, 'client');
      this.clientRpcs.set(service, rpc);
    }
    return rpc;
  }

  private async serverRpc(service: string, kind: 'unary' | 'stream', start: (rpc: PubSubRpc) => Promise<Subscription>): Promise<Subscription> {
    const rpc = this.rpcOver(service, kind);
    let sub: Subscription;
    try {
      sub = await start(rpc);
    } catch (error) {
      rpc.close();
      this.rpcs.delete(rpc);
      throw error;
    }
    return {
      filter: sub.filter,
      unsubscribe: async () => {
        await sub.unsubscribe();
        rpc.close();
        this.rpcs.delete(rpc);
      },
    };
  }

  /**
   * Request/reply of spec §9 run over this wrapper's own publish/subscribe, so that every message of a call
   * (request, reply, error reply, stream event, stream end, cancel) is protected and checked like any other.
   * A forged reply or stream end is rejected and dropped: the call goes on and gets the real one.
   */
  private rpcOver(service: string, role: 'client' | 'unary' | 'stream'): PubSubRpc {
    if (this.closed) throw new TransportError('CLOSED', 'transport closed');
    const topics = this.rpcTopics;
    const requestTopic = topics.request(service);
    // The destination signed into each message binds it to its call. Per-correlation topics name the call; on
    // fixed topics (DDS) the correlation travels in the event, outside the seal, and the signed copy must match it.
    const destinationOf = (topic: string, event: EcpsEvent): string => {
      if (topic === requestTopic) return `request:${service}`;
      if (topics.shared) {
        const correlation = correlationOf(event) ?? '';
        return `${topic === topics.reply(service, correlation) ? 'reply' : 'stream'}:${service}:${correlation}`;
      }
      if (topic.startsWith('response/')) return `reply:${service}:${topic.slice('response/'.length)}`;
      return `stream:${service}:${topic.slice(`${service}/stream/`.length)}`;
    };
    const bus: PubSub = {
      publish: async (topic, event, options) => this.inner.publish(topic, await this.protect(event, destinationOf(topic, event)), options),
      subscribe: (filter, handler, options) => {
        const replay = this.receiveScope();
        const direction = filter === requestTopic ? 'request' : 'reply';
        return this.inner.subscribe(
          filter,
          async (outer, topic) => {
            // fixed reply topics carry every caller's replies: check only those of this endpoint's calls
            if (topics.shared && direction === 'reply' && !rpc.awaits(correlationOf(outer))) return;
            const ctx: MessageContext = { direction, target: service, event: outer };
            let verified: Unprotected;
            try {
              verified = await this.verify(outer, destinationOf(topic, outer), ctx, replay);
            } catch {
              return; // already reported
            }
            try {
              this.check(verified, ctx);
            } catch (error) {
              if (role !== 'client') await this.refuse(verified.event, service, role, error);
              return;
            }
            await handler(verified.event, topic);
          },
          options,
        );
      },
    };
    const rpc = new PubSubRpc(bus, {
      source: nodeSource(this.nodeId),
      clock: this.clock,
      ...(this.options.random ? { random: this.options.random } : {}),
      defaultTimeoutMs: this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      topics,
    });
    this.rpcs.add(rpc);
    return rpc;
  }

  /**
   * Answers an authenticated request that authorization refused, so the requester fails with `REMOTE_ERROR` at
   * once instead of timing out. Only authenticated requests are answered: the correlation it answers to is the one
   * the requester signed, so nobody can make this node end someone else's call.
   */
  private async refuse(request: EcpsEvent, service: string, kind: 'unary' | 'stream', error: unknown): Promise<void> {
    const correlation = correlationOf(request);
    if (!correlation || request.type === RPC_EVENT_TYPES.streamCancel) return;
    const end: EcpsEvent = {
      id: uuidv4(this.options.random ?? cryptoRandom),
      source: nodeSource(this.nodeId),
      type: EVENT_TYPES.streamEnd,
      time: eventTime(this.clock.now()),
      extensions: { correlationid: correlation },
      data: encodeAck({ success: false, message: error instanceof TrustError ? `${error.code}: ${error.message}` : 'refused' }),
    };
    const topic = kind === 'unary' ? this.rpcTopics.reply(service, correlation) : this.rpcTopics.stream(service, correlation);
    const destination = kind === 'unary' ? `reply:${service}:${correlation}` : `stream:${service}:${correlation}`;
    await this.inner.publish(topic, await this.protect(end, destination), { qos: 1 }).catch((e: unknown) => {
      this.logger.warn('could not answer a refused request', { service, error: String(e) });
    });
  }

  private checkSize(event: EcpsEvent): void {
    if (event.data.length > this.maxPayloadSize) {
      throw new TransportError('MESSAGE_TOO_LARGE', `data of ${event.data.length} bytes exceeds ${this.maxPayloadSize}`);
    }
  }

  private protect(event: EcpsEvent, destination: string): Promise<EcpsEvent> | EcpsEvent {
    if (!this.protector) return event;
    return this.protector.protect(event, destination, this.delegationsFor(event));
  }

  /** The chain to forward `event` with, when its source is a node this one acts for. */
  private delegationsFor(event: EcpsEvent): Delegation[] | undefined {
    const sourceNode = nodeIdFromSource(event.source);
    return sourceNode !== undefined && sourceNode !== this.nodeId ? this.delegations.get(sourceNode) : undefined;
  }

  /** Replay state of one receiving scope; in session mode the node also starts listening to itself. */
  private receiveScope(): ReceiveScope {
    const guard = new ReplayGuard({ clock: this.clock, ...this.options.replay });
    if (!this.sessions) return { guard };
    this.sessions.includeSelf();
    const session = this.options.session;
    return { guard, windows: new SessionReplayScope(typeof session === 'object' ? session.replayWindow : undefined) };
  }

  /**
   * Checks a received message; on failure reports it and returns undefined (the event is dropped). Session
   * messages are checked without a promise. A batched session record comes back as its messages, authenticated
   * but not yet through {@link check} (the caller checks each).
   */
  private accept(
    outer: EcpsEvent,
    destination: string,
    ctx: MessageContext,
    replay: ReceiveScope,
  ): Unprotected | readonly Unprotected[] | undefined | Promise<Unprotected | undefined> {
    try {
      const verified = this.verify(outer, destination, ctx, replay, true);
      if (Array.isArray(verified)) return verified;
      if (!(verified instanceof Promise)) return this.checked(verified as Unprotected, ctx);
      return verified.then(
        (v) => this.checked(v, ctx),
        () => undefined, // already reported
      );
    } catch {
      return undefined; // already reported
    }
  }

  /** `verified` if it passes {@link check}, else undefined (reported). */
  private checked(verified: Unprotected, ctx: MessageContext): Unprotected | undefined {
    try {
      this.check(verified, ctx);
      return verified;
    } catch {
      return undefined; // already reported
    }
  }

  /**
   * Unwraps and authenticates a received message (signature, sealing, replay, destination). Reports and throws
   * (or rejects) on failure; synchronous for session messages. Batched session records are taken with `many` only.
   */
  private verify(outer: EcpsEvent, destination: string, ctx: MessageContext, replay: ReceiveScope): Unprotected | Promise<Unprotected>;
  private verify(outer: EcpsEvent, destination: string, ctx: MessageContext, replay: ReceiveScope, many: true): Unprotected | readonly Unprotected[] | Promise<Unprotected>;
  private verify(outer: EcpsEvent, destination: string, ctx: MessageContext, replay: ReceiveScope, many = false): Unprotected | readonly Unprotected[] | Promise<Unprotected> {
    if (!this.protector) return { event: outer, senderId: outer.source, principalId: outer.source };
    const fail = (error: unknown): never => {
      throw this.reject(error, outer.source, defaultPermissionFor(ctx), outer, ctx);
    };
    try {
      const result = many ? this.protector.unprotectMany(outer, destination, replay.guard, replay.windows) : this.protector.unprotectNow(outer, destination, replay.guard, replay.windows);
      return result instanceof Promise ? result.catch(fail) : result;
    } catch (error) {
      return fail(error);
    }
  }

  /** Authorizes a verified message (from AUTHORIZED up) and audits the decision. Reports and throws on refusal. */
  private check(verified: Unprotected, ctx: MessageContext): void {
    if (!this.protector) return;
    // nothing to decide or record: skip building the permission
    if (!(this.behaviour.sign && this.options.admit) && !this.behaviour.authorize && !this.behaviour.audit) return;
    const permission = (this.options.permissionFor ?? defaultPermissionFor)({ ...ctx, event: verified.event });
    try {
      if (this.behaviour.sign && this.options.admit && !this.options.admit(verified.principalId, ctx)) {
        throw new TrustError('UNAUTHENTICATED', `${verified.principalId} is not admitted`, { details: { reason: 'not-admitted', principal: verified.principalId } });
      }
      if (this.behaviour.authorize) this.authorize(verified, permission.action, permission.resource);
    } catch (error) {
      throw this.reject(error, verified.principalId, permission, verified.event, ctx);
    }
    this.audit(verified.principalId, permission, verified.event, undefined);
  }

  private reject(error: unknown, principal: string, permission: { action: string; resource: string }, event: EcpsEvent, ctx: MessageContext): TrustError {
    const trustError =
      error instanceof TrustError
        ? error
        : new TrustError(isEcpsError(error) ? error.code : 'INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
    this.audit(principal, permission, event, trustError.code);
    this.logger.warn('rejected message', { id: event.id, source: event.source, code: trustError.code, reason: trustError.message });
    this.options.onReject?.(trustError, ctx);
    return trustError;
  }

  private authorize(msg: Unprotected, action: string, resource: string): void {
    const principal = this.options.principals?.principal(msg.principalId);
    const allowed = this.options.authorizer
      ? this.options.authorizer(msg.principalId, principal, action, resource)
      : this.options.principals!.can(msg.principalId, action, resource);
    if (!allowed || (msg.delegated && !msg.delegated(action, resource))) {
      throw new TrustError('PERMISSION_DENIED', `${msg.principalId} may not ${action} ${resource}`, {
        details: { principal: msg.principalId, sender: msg.senderId, action, resource },
      });
    }
  }

  private audit(principal: string, { action, resource }: { action: string; resource: string }, event: EcpsEvent, reason: string | undefined): void {
    if (!this.behaviour.audit || !this.options.audit) return;
    try {
      void Promise.resolve(
        this.options.audit.write({
          time: eventTime(this.clock.now()),
          node: this.nodeId,
          principal,
          action,
          resource,
          allowed: reason === undefined,
          ...(reason !== undefined ? { reason } : {}),
          messageId: event.id,
          messageType: event.type,
        }),
      ).catch((error: unknown) => this.logger.error('audit sink failed', { error: String(error) }));
    } catch (error) {
      this.logger.error('audit sink failed', { error: String(error) });
    }
  }
}
