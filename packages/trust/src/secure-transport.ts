// SPDX-License-Identifier: Apache-2.0
// A Transport wrapper that protects everything it sends and checks everything it receives before a handler sees it.
import {
  TransportError,
  eventTime,
  isEcpsError,
  nodeIdFromSource,
  silentLogger,
  systemClock,
  type Clock,
  type EcpsEvent,
  type EventHandler,
  type Logger,
  type PublishOptions,
  type RandomSource,
  type RequestHandler,
  type RequestOptions,
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
import { Protector, type SealingKeys, type Unprotected } from './protect';
import type { Principal, Rbac } from './rbac';
import { ReplayGuard, type ReplayGuardOptions } from './replay-guard';

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
  /** Maps a received message to the permission it needs. Default {@link defaultPermissionFor}. */
  permissionFor?: (ctx: MessageContext) => { action: string; resource: string };
  /** Receives an event per decision at AUDITED. */
  audit?: AuditSink;
  /** Options of the nonce caches (one per subscription, served service and request). */
  replay?: ReplayGuardOptions;
  /** Told about every rejected message (which is dropped, or answered with an error for requests). */
  onReject?: (error: TrustError, ctx: MessageContext) => void;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

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
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly delegations = new Map<string, Delegation[]>();
  private readonly nodeId: string;

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
    if (active) {
      this.protector = new Protector({
        senderId: this.nodeId,
        ...(options.identity ? { signer: new IdentitySigner(options.identity) } : {}),
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

  connect(): Promise<void> {
    return this.inner.connect();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async publish(topic: string, event: EcpsEvent, options?: PublishOptions): Promise<void> {
    this.checkSize(event);
    await this.inner.publish(topic, await this.protect(event, topic), options);
  }

  subscribe(filter: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    const replay = this.replayGuard();
    return this.inner.subscribe(
      filter,
      async (outer, topic) => {
        const accepted = await this.accept(outer, topic, { direction: 'publish', target: topic, event: outer }, replay);
        if (accepted) await handler(accepted.event, topic);
      },
      options,
    );
  }

  async request(service: string, request: EcpsEvent, options?: RequestOptions): Promise<EcpsEvent> {
    this.checkSize(request);
    const reply = await this.inner.request(service, await this.protect(request, `request:${service}`), options);
    const ctx: MessageContext = { direction: 'reply', target: service, event: reply };
    const accepted = await this.acceptOrThrow(reply, `reply:${service}:${request.id}`, ctx, this.replayGuard());
    return accepted.event;
  }

  serve(service: string, handler: RequestHandler): Promise<Subscription> {
    const replay = this.replayGuard();
    return this.inner.serve(service, async (outer) => {
      const req = await this.acceptOrThrow(outer, `request:${service}`, { direction: 'request', target: service, event: outer }, replay);
      return this.protect(await handler(req.event), `reply:${service}:${req.event.id}`);
    });
  }

  async *requestStream(service: string, request: EcpsEvent, options?: RequestOptions): AsyncIterable<EcpsEvent> {
    this.checkSize(request);
    const destination = `stream:${service}:${request.id}`;
    const replay = this.replayGuard();
    for await (const outer of this.inner.requestStream(service, await this.protect(request, `request:${service}`), options)) {
      yield (await this.acceptOrThrow(outer, destination, { direction: 'reply', target: service, event: outer }, replay)).event;
    }
  }

  serveStream(service: string, handler: StreamHandler): Promise<Subscription> {
    const protect = (e: EcpsEvent, destination: string) => this.protect(e, destination);
    const replay = this.replayGuard();
    const accept = (outer: EcpsEvent) => this.acceptOrThrow(outer, `request:${service}`, { direction: 'request', target: service, event: outer }, replay);
    return this.inner.serveStream(service, async function* (outer, signal) {
      const req = await accept(outer);
      for await (const e of handler(req.event, signal)) yield await protect(e, `stream:${service}:${req.event.id}`);
    });
  }

  private checkSize(event: EcpsEvent): void {
    if (event.data.length > this.maxPayloadSize) {
      throw new TransportError('MESSAGE_TOO_LARGE', `data of ${event.data.length} bytes exceeds ${this.maxPayloadSize}`);
    }
  }

  private protect(event: EcpsEvent, destination: string): Promise<EcpsEvent> | EcpsEvent {
    if (!this.protector) return event;
    const sourceNode = nodeIdFromSource(event.source);
    const chain = sourceNode !== undefined && sourceNode !== this.nodeId ? this.delegations.get(sourceNode) : undefined;
    return this.protector.protect(event, destination, chain);
  }

  /** Checks a received message; on failure reports it and returns undefined. */
  private replayGuard(): ReplayGuard {
    return new ReplayGuard({ clock: this.clock, ...this.options.replay });
  }

  private accept(outer: EcpsEvent, destination: string, ctx: MessageContext, replay: ReplayGuard): Promise<Unprotected | undefined> {
    // acceptOrThrow has already reported the rejection; the event is dropped.
    return this.acceptOrThrow(outer, destination, ctx, replay).catch(() => undefined);
  }

  private async acceptOrThrow(outer: EcpsEvent, destination: string, ctx: MessageContext, replay: ReplayGuard): Promise<Unprotected> {
    if (!this.protector) {
      return { event: outer, senderId: outer.source, principalId: outer.source };
    }
    let principal = outer.source;
    let permission = defaultPermissionFor(ctx);
    try {
      const result = await this.protector.unprotect(outer, destination, replay);
      principal = result.principalId;
      permission = (this.options.permissionFor ?? defaultPermissionFor)({ ...ctx, event: result.event });
      if (this.behaviour.authorize) this.authorize(result, permission.action, permission.resource);
      this.audit(principal, permission, result.event, undefined);
      return result;
    } catch (error) {
      const trustError =
        error instanceof TrustError
          ? error
          : new TrustError(isEcpsError(error) ? error.code : 'INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
      this.audit(principal, permission, outer, trustError.code);
      this.logger.warn('rejected message', { id: outer.id, source: outer.source, code: trustError.code, reason: trustError.message });
      this.options.onReject?.(trustError, ctx);
      throw trustError;
    }
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
