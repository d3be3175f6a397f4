// SPDX-License-Identifier: Apache-2.0
// Agent-to-agent coordination over any ECPS Transport: periodic heartbeats that advertise capabilities and load
// (discovery), liveness (agents that stop heart-beating are marked unavailable, never forgotten), and unary
// coordination requests between agents.
import { EcpsError, cryptoRandom, eventTime, nodeIdFromSource, nodeSource, silentLogger, systemClock, uuidv4 } from '@ecps/core';
import type { Clock, EcpsEvent, Logger, RandomSource, Subscription, TimerHandle, Transport } from '@ecps/core';
import { AgentHeartbeat, CoordinationRequest, CoordinationResponse } from '@ecps/proto/ext/v1';
import type { AgentCapability } from '@ecps/proto/ext/v1';

export const HEARTBEAT_EVENT_TYPE = 'ecps.ext.a2a.heartbeat';
export const COORDINATION_REQUEST_TYPE = 'ecps.ext.a2a.request';
export const COORDINATION_RESPONSE_TYPE = 'ecps.ext.a2a.response';

/** Topic of one agent's heartbeats; subscribe to `heartbeatTopic('+')` for all. */
export function heartbeatTopic(agentId: string): string {
  return `ecps.ext.v1.A2a.Heartbeat/${agentId}`;
}

/** RPC service of one agent's coordination endpoint (request topic `<service>/request`). */
export function coordinationService(agentId: string): string {
  return `ecps.ext.v1.A2a.Coordinate/${agentId}`;
}

export interface Capability {
  readonly name: string;
  readonly version?: string;
  readonly parameters?: Readonly<Record<string, string>>;
}

export interface PeerRecord {
  readonly id: string;
  readonly type: string;
  readonly capabilities: readonly Capability[];
  readonly load: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** Local clock time of the last heartbeat. */
  readonly lastSeenMs: number;
  readonly available: boolean;
  /** The agent said goodbye (it stays listed, unavailable). */
  readonly left: boolean;
}

export type PeerChange = 'discovered' | 'updated' | 'unavailable' | 'available' | 'left' | 'forgotten';

export interface CoordinationReply {
  readonly accepted: boolean;
  readonly reason?: string;
  readonly payload?: Uint8Array;
}

export type CoordinationHandler = (request: {
  readonly requestId: string;
  readonly fromAgent: string;
  readonly action: string;
  readonly payload: Uint8Array;
}) => CoordinationReply | Promise<CoordinationReply>;

export interface A2aAgentOptions {
  readonly transport: Transport;
  /** `[A-Za-z0-9._-]{1,64}`. */
  readonly agentId: string;
  readonly agentType?: string;
  readonly capabilities?: readonly Capability[];
  readonly metadata?: Readonly<Record<string, string>>;
  /** Default 1000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** A peer silent this long is unavailable. Default 3 heartbeat intervals. */
  readonly unavailableAfterMs?: number;
  /** Answers coordination requests; without one every request is refused. */
  readonly onRequest?: CoordinationHandler;
  /** Most peers remembered; beyond it the one silent longest is dropped ('forgotten'). Default 10 000. */
  readonly maxPeers?: number;
  /** A peer unavailable (or gone) this long is dropped ('forgotten'). Default 10 minutes. */
  readonly forgetAfterMs?: number;
  readonly clock?: Clock;
  /** Picks this agent's incarnation (default crypto). */
  readonly random?: RandomSource;
  readonly logger?: Logger;
}

/** Earlier incarnations remembered per peer, so that their late heartbeats are recognised. */
const RETIRED_INCARNATIONS = 8;

interface PeerState extends PeerRecord {
  readonly incarnation: bigint;
  readonly seq: bigint;
  /** Incarnations this peer had before (a restart changes it): their heartbeats are stale. */
  readonly retired: readonly bigint[];
}

function event(source: string, type: string, data: Uint8Array, clock: Clock): EcpsEvent {
  return { id: uuidv4(), source, type, time: eventTime(clock.now()), datacontenttype: 'application/protobuf', data };
}

/** What a peer advertises; a heartbeat that changes it is an 'updated' event, a plain one is not. */
const advertised = (p: Pick<PeerRecord, 'type' | 'capabilities' | 'load' | 'metadata'>) =>
  JSON.stringify([p.type, p.capabilities, p.load, Object.entries(p.metadata).sort()]);

const toWire = (c: Capability): AgentCapability => ({ name: c.name, version: c.version ?? '', parameters: { ...c.parameters } });
const fromWire = (c: AgentCapability): Capability => ({ name: c.name, version: c.version, parameters: c.parameters });

function publicRecord(p: PeerState): PeerRecord {
  const { incarnation: _i, seq: _s, retired: _r, ...record } = p;
  return record;
}

/** One agent's presence on the network. Create with {@link startA2aAgent}. */
export class A2aAgent {
  private readonly peersById = new Map<string, PeerState>();
  private readonly listeners = new Set<(peer: PeerRecord, change: PeerChange) => void>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly source: string;
  private subs: Subscription[] = [];
  private timer: TimerHandle | undefined;
  private sequence = 0n;
  /** Random per start: a restarted agent's sequence numbers start again in a new incarnation. */
  private readonly incarnation: bigint;
  private capabilities: readonly Capability[];
  private load = 0;
  private stopped = false;

  constructor(private readonly options: A2aAgentOptions) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(options.agentId)) {
      throw new EcpsError('INVALID_ARGUMENT', `agent id '${options.agentId}' must match [A-Za-z0-9._-]{1,64}`);
    }
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.source = nodeSource(options.agentId);
    this.capabilities = options.capabilities ?? [];
    const bytes = (options.random ?? cryptoRandom).bytes(8);
    this.incarnation = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0) | 1n;
  }

  get id(): string {
    return this.options.agentId;
  }

  /** @internal started by startA2aAgent */
  async start(): Promise<void> {
    const { transport } = this.options;
    // heartbeats go out BEST_EFFORT; a reliable subscription would not match them on DDS
    this.subs.push(await transport.subscribe(heartbeatTopic('+'), (e) => this.onHeartbeat(e), { qos: 0 }));
    this.subs.push(await transport.serve(coordinationService(this.id), (req) => this.onCoordination(req)));
    await this.beat(false);
    this.loop();
  }

  /** The peers remembered (available or not; see `maxPeers` and `forgetAfterMs`), sorted by id. */
  peers(): PeerRecord[] {
    return [...this.peersById.values()].map(publicRecord).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Available peers advertising capability `name`. */
  findByCapability(name: string): PeerRecord[] {
    return this.peers().filter((p) => p.available && p.capabilities.some((c) => c.name === name));
  }

  onPeerChange(listener: (peer: PeerRecord, change: PeerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes what this agent advertises (sent with the next heartbeat, which is sent now). */
  async advertise(capabilities: readonly Capability[], load = this.load): Promise<void> {
    this.capabilities = capabilities;
    this.load = load;
    await this.beat(false);
  }

  /**
   * Asks agent `to` to coordinate on `action`.
   * @throws EcpsError `TIMEOUT`, `CLOSED` from the transport; `DECODE_ERROR` for a malformed reply;
   *   `PERMISSION_DENIED` for a reply that does not come from `to`.
   */
  async request(to: string, action: string, payload: Uint8Array = new Uint8Array(0), timeoutMs = 5_000): Promise<CoordinationReply> {
    const requestId = uuidv4();
    const body = CoordinationRequest.encode({
      requestId,
      fromAgent: this.id,
      toAgent: to,
      action,
      payload,
      deadlineNs: this.clock.nowNs() + BigInt(timeoutMs) * 1_000_000n,
    }).finish();
    const reply = await this.options.transport.request(coordinationService(to), event(this.source, COORDINATION_REQUEST_TYPE, body, this.clock), { timeoutMs });
    if (nodeIdFromSource(reply.source) !== to) {
      throw new EcpsError('PERMISSION_DENIED', `the reply comes from ${reply.source}, not ${to}`);
    }
    let r: CoordinationResponse;
    try {
      r = CoordinationResponse.decode(reply.data);
    } catch (cause) {
      throw new EcpsError('DECODE_ERROR', 'malformed coordination response', { cause });
    }
    return { accepted: r.accepted, reason: r.reason, payload: r.payload };
  }

  /** Stops heart-beating. `announce` (default true) tells peers we are leaving; false models a crash. */
  async stop(announce = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (announce) await this.beat(true).catch(() => undefined);
    for (const s of this.subs) await s.unsubscribe();
    this.subs = [];
  }

  private loop(): void {
    const interval = this.options.heartbeatIntervalMs ?? 1_000;
    this.timer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      this.beat(false).catch((error: unknown) => this.logger.debug('heartbeat not sent', { error: String(error) }));
      this.checkLiveness();
      this.loop();
    }, interval);
  }

  private async beat(leaving: boolean): Promise<void> {
    this.sequence += 1n;
    const hb = AgentHeartbeat.encode({
      agentId: this.id,
      agentType: this.options.agentType ?? 'agent',
      capabilities: this.capabilities.map(toWire),
      sequence: this.sequence,
      timestampNs: this.clock.nowNs(),
      load: this.load,
      metadata: { ...this.options.metadata },
      leaving,
      incarnation: this.incarnation,
    }).finish();
    await this.options.transport.publish(heartbeatTopic(this.id), event(this.source, HEARTBEAT_EVENT_TYPE, hb, this.clock), { qos: 0 });
  }

  private checkLiveness(): void {
    const limit = this.options.unavailableAfterMs ?? 3 * (this.options.heartbeatIntervalMs ?? 1_000);
    const forget = this.options.forgetAfterMs ?? 600_000;
    const now = this.clock.now();
    for (const [id, p] of this.peersById) {
      if (!p.available && now - p.lastSeenMs > forget) {
        this.peersById.delete(id);
        this.emit(p, 'forgotten');
      } else if (p.available && now - p.lastSeenMs > limit) {
        const next = { ...p, available: false };
        this.peersById.set(id, next);
        this.emit(next, 'unavailable');
      }
    }
  }

  /**
   * Whether a heartbeat says something new. Order is by incarnation and sequence, never by the sender's clock (which
   * may step back): the same incarnation must raise the sequence; a new incarnation (a restart) replaces the old
   * one, whose late heartbeats are then ignored. Peers without an incarnation (older versions) are ordered by
   * sequence, a sequence back at 1 being a restart.
   */
  private isNews(hb: AgentHeartbeat, prev: PeerState | undefined): boolean {
    if (!prev) return true;
    if (hb.incarnation === 0n) return hb.sequence > prev.seq || hb.sequence === 1n;
    if (hb.incarnation === prev.incarnation) return hb.sequence > prev.seq;
    return !prev.retired.includes(hb.incarnation);
  }

  private onHeartbeat(e: EcpsEvent): void {
    if (e.type !== HEARTBEAT_EVENT_TYPE) return;
    let hb: AgentHeartbeat;
    try {
      hb = AgentHeartbeat.decode(e.data);
    } catch {
      this.logger.debug('dropping a malformed heartbeat', { source: e.source });
      return;
    }
    if (hb.agentId === this.id || hb.agentId === '') return;
    // an agent speaks only for itself (the source is the verified signer with the trust layer on)
    if (nodeIdFromSource(e.source) !== hb.agentId) {
      this.logger.warn('dropping a heartbeat whose agent is not its sender', { source: e.source, agentId: hb.agentId });
      return;
    }
    const prev = this.peersById.get(hb.agentId);
    if (!this.isNews(hb, prev)) return;
    const restarted = prev !== undefined && hb.incarnation !== prev.incarnation;
    const record: PeerState = {
      id: hb.agentId,
      type: hb.agentType,
      capabilities: hb.capabilities.map(fromWire),
      load: hb.load,
      metadata: hb.metadata,
      lastSeenMs: this.clock.now(),
      available: !hb.leaving,
      left: hb.leaving,
      incarnation: hb.incarnation,
      seq: hb.sequence,
      retired: restarted ? [prev.incarnation, ...prev.retired].slice(0, RETIRED_INCARNATIONS) : (prev?.retired ?? []),
    };
    if (!prev) this.makeRoom();
    this.peersById.set(hb.agentId, record);
    const change: PeerChange | undefined = !prev
      ? 'discovered'
      : hb.leaving
        ? 'left'
        : !prev.available
          ? 'available'
          : advertised(prev) !== advertised(record)
            ? 'updated'
            : undefined;
    if (change) this.emit(record, change);
  }

  /** Keeps the table within `maxPeers`: drops the peer unavailable longest, else the one heard from longest ago. */
  private makeRoom(): void {
    const max = this.options.maxPeers ?? 10_000;
    while (this.peersById.size >= max) {
      let victim: PeerState | undefined;
      for (const p of this.peersById.values()) {
        if (!victim || (p.available === victim.available ? p.lastSeenMs < victim.lastSeenMs : !p.available)) victim = p;
      }
      if (!victim) return;
      this.peersById.delete(victim.id);
      this.emit(victim, 'forgotten');
    }
  }

  private async onCoordination(req: EcpsEvent): Promise<EcpsEvent> {
    const reply = (r: CoordinationResponse) => event(this.source, COORDINATION_RESPONSE_TYPE, CoordinationResponse.encode(r).finish(), this.clock);
    let cr: CoordinationRequest;
    try {
      cr = CoordinationRequest.decode(req.data);
    } catch {
      return reply({ requestId: '', fromAgent: this.id, accepted: false, reason: 'DECODE_ERROR: not a CoordinationRequest', payload: new Uint8Array(0) });
    }
    const base = { requestId: cr.requestId, fromAgent: this.id };
    // the requester is who sent the request (verified with the trust layer on), whatever the body claims
    const requester = nodeIdFromSource(req.source) ?? '';
    if (cr.deadlineNs > 0n && cr.deadlineNs < this.clock.nowNs()) {
      return reply({ ...base, accepted: false, reason: 'deadline passed', payload: new Uint8Array(0) });
    }
    const handler = this.options.onRequest;
    if (!handler) return reply({ ...base, accepted: false, reason: 'no handler', payload: new Uint8Array(0) });
    try {
      const r = await handler({ requestId: cr.requestId, fromAgent: requester, action: cr.action, payload: cr.payload });
      return reply({ ...base, accepted: r.accepted, reason: r.reason ?? '', payload: r.payload ?? new Uint8Array(0) });
    } catch (error) {
      return reply({ ...base, accepted: false, reason: `handler failed: ${(error as Error).message}`, payload: new Uint8Array(0) });
    }
  }

  private emit(peer: PeerState, change: PeerChange): void {
    const p = publicRecord(peer);
    for (const l of this.listeners) l(p, change);
  }
}

/**
 * Starts an agent: subscribes to heartbeats, serves coordination requests, sends its first heartbeat.
 * @throws EcpsError `INVALID_ARGUMENT` for a bad agent id; transport errors from subscribe/serve/publish.
 */
export async function startA2aAgent(options: A2aAgentOptions): Promise<A2aAgent> {
  const agent = new A2aAgent(options);
  await agent.start();
  return agent;
}
