// SPDX-License-Identifier: Apache-2.0
// The SW4RM registry (spec §3.2): descriptors, heartbeats, stale marking — never eviction for missed heartbeats —
// and the agent-state timeouts (a state held past its timeout becomes FAILED, logged). Every change an answer
// reports is durable first when a KvStore is given.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import { AGENT_STATE_TIMEOUTS_MS, AgentState, CommunicationClass, KvJsonTable, NO_AUTH, isAgentTransitionAllowed } from '@ecps/sw4rm';
import type { Authenticator, KvStore } from '@ecps/sw4rm';
import { AgentDescriptor } from '@ecps/sw4rm/proto';
import type {
  DeregisterAgentRequest,
  DeregisterAgentResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterAgentRequest,
  RegisterAgentResponse,
} from '@ecps/sw4rm/proto';

/** One registered agent as the status API shows it. */
export interface AgentEntry {
  descriptor: AgentDescriptor;
  state: AgentState;
  /** When the agent entered `state`. */
  stateSinceMs: number;
  health: Map<string, string>;
  registeredAtMs: number;
  lastSeenMs: number;
  stale: boolean;
}

/** Options of {@link Registry.open}. */
export interface RegistryOptions {
  /** Stale after this long without a heartbeat; default 90 000 ms (`SW4RM_REGISTRY_STALE_SECONDS`). */
  staleAfterMs?: number;
  /** How often staleness and state timeouts are checked; default 1000 ms. */
  checkIntervalMs?: number;
  /** State timeouts (ms) that turn an agent FAILED; default the spec's table. */
  stateTimeoutsMs?: ReadonlyMap<AgentState, number>;
  /** Durable store (namespace `registry`); memory only when absent. */
  store?: KvStore;
  clock?: Clock;
  logger?: Logger;
  /** Called when an agent turns stale (e.g. to announce it). */
  onStale?(entry: AgentEntry): void;
  /** Called after an agent was deregistered (e.g. so the router forgets it). */
  onDeregister?(agentId: string): void;
}

interface Saved {
  descriptor: unknown;
  state: AgentState;
  stateSinceMs: number;
  health: [string, string][];
  registeredAtMs: number;
  lastSeenMs: number;
}

const MAX_DESCRIPTION_WORDS = 200;

/** Registry state and RPC semantics. */
export class Registry {
  private readonly agents = new Map<string, AgentEntry>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly staleAfterMs: number;
  private readonly table: KvJsonTable<Saved> | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly options: RegistryOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.staleAfterMs = options.staleAfterMs ?? 90_000;
    this.table = options.store ? new KvJsonTable(options.store, 'registry') : undefined;
    this.arm();
  }

  /** A registry with its persisted agents restored (stale until their next heartbeat). @throws EcpsError IO_ERROR, LOG_CORRUPT. */
  static async open(options: RegistryOptions = {}): Promise<Registry> {
    const registry = new Registry(options);
    if (registry.table) {
      for (const [id, s] of await registry.table.load()) {
        registry.agents.set(id, {
          descriptor: AgentDescriptor.fromJSON(s.descriptor),
          state: s.state,
          stateSinceMs: s.stateSinceMs,
          health: new Map(s.health),
          registeredAtMs: s.registeredAtMs,
          lastSeenMs: s.lastSeenMs,
          stale: true, // a restarted registry has not heard from anyone yet
        });
      }
    }
    return registry;
  }

  /** RegisterAgent: validates, inserts or updates the descriptor. @throws EcpsError PERMISSION_DENIED (another agent's id), IO_ERROR. */
  async registerAgent(req: RegisterAgentRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<RegisterAgentResponse> {
    const agent = req.agent ? AgentDescriptor.fromPartial(req.agent) : undefined;
    if (!agent) return { accepted: false, reason: 'validation_error: agent is required' };
    if (!agent.agentId) return { accepted: false, reason: 'validation_error: agent_id is required' };
    auth.authorize(identity, agent.agentId, 'register');
    const words = agent.description.trim() ? agent.description.trim().split(/\s+/).length : 0;
    if (words > MAX_DESCRIPTION_WORDS) return { accepted: false, reason: `validation_error: description has ${words} words (max ${MAX_DESCRIPTION_WORDS})` };
    const now = this.clock.now();
    const existing = this.agents.get(agent.agentId);
    // COMM_CLASS_UNSPECIFIED (what invalid class names encode to) is treated as STANDARD
    const descriptor = { ...agent, communicationClass: agent.communicationClass || CommunicationClass.STANDARD };
    const entry: AgentEntry = {
      descriptor,
      state: existing?.state ?? AgentState.INITIALIZING,
      stateSinceMs: existing?.stateSinceMs ?? now,
      health: existing?.health ?? new Map(),
      registeredAtMs: existing?.registeredAtMs ?? now,
      lastSeenMs: now,
      stale: false,
    };
    await this.save(entry);
    this.agents.set(agent.agentId, entry);
    this.logger.info(existing ? 'agent re-registered' : 'agent registered', { agentId: agent.agentId });
    return { accepted: true, reason: '' };
  }

  /** Heartbeat: unknown → ok=false; known → refresh last_seen/state/health (state changes durable), clear stale. */
  async heartbeat(req: HeartbeatRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<HeartbeatResponse> {
    auth.authorize(identity, req.agentId, 'heartbeat');
    const entry = this.agents.get(req.agentId);
    if (!entry) return { ok: false };
    const now = this.clock.now();
    const to = req.state as AgentState;
    const changed = to > 0 && to !== entry.state;
    if (changed && !isAgentTransitionAllowed(entry.state, to)) {
      this.logger.warn('heartbeat reports a transition outside the state table', { agentId: req.agentId, from: AgentState[entry.state], to: AgentState[to] ?? to });
    }
    const next: AgentEntry = { ...entry, health: new Map(req.health), lastSeenMs: now, stale: false, ...(changed ? { state: to, stateSinceMs: now } : {}) };
    if (changed) await this.save(next);
    Object.assign(entry, next);
    return { ok: true };
  }

  /** DeregisterAgent: explicit removal; unknown → ok=false. */
  async deregisterAgent(req: DeregisterAgentRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<DeregisterAgentResponse> {
    auth.authorize(identity, req.agentId, 'deregister');
    if (!this.agents.has(req.agentId)) return { ok: false };
    await this.table?.remove(req.agentId);
    this.agents.delete(req.agentId);
    this.logger.info('agent deregistered', { agentId: req.agentId, reason: req.reason });
    this.options.onDeregister?.(req.agentId);
    return { ok: true };
  }

  /** Every agent (stale ones included), sorted by id. */
  list(): AgentEntry[] {
    return [...this.agents.values()].sort((a, b) => (a.descriptor.agentId < b.descriptor.agentId ? -1 : 1));
  }

  get(agentId: string): AgentEntry | undefined {
    return this.agents.get(agentId);
  }

  /**
   * Marks agents stale whose last heartbeat is older than `staleAfter` (never removes anyone) and fails agents that
   * held a timed state too long (INITIALIZING 60 s, WAITING_RESOURCES 300 s, SUSPENDED 3600 s, RECOVERING 120 s,
   * SHUTTING_DOWN 30 s → FAILED, logged with the trigger).
   */
  async check(): Promise<void> {
    const now = this.clock.now();
    const timeouts = this.options.stateTimeoutsMs ?? AGENT_STATE_TIMEOUTS_MS;
    for (const entry of [...this.agents.values()]) {
      if (!entry.stale && now - entry.lastSeenMs >= this.staleAfterMs) {
        entry.stale = true;
        this.logger.warn('agent stale (no heartbeat)', { agentId: entry.descriptor.agentId, lastSeenMs: entry.lastSeenMs });
        this.options.onStale?.(entry);
      }
      const limit = timeouts.get(entry.state);
      if (limit !== undefined && now - entry.stateSinceMs >= limit) {
        const from = AgentState[entry.state];
        const next = { ...entry, state: AgentState.FAILED_STATE, stateSinceMs: now };
        await this.save(next);
        if (this.agents.get(entry.descriptor.agentId) === entry) Object.assign(entry, next);
        this.logger.warn('agent state timed out', { agentId: entry.descriptor.agentId, from, to: 'FAILED_STATE', trigger: `${from.toLowerCase()}_timeout`, afterMs: limit });
      }
    }
  }

  /** Stops the check timer. */
  close(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => {
      this.arm();
      this.check().catch((err: unknown) => this.logger.error('registry check failed', { error: String(err) }));
    }, this.options.checkIntervalMs ?? 1000);
  }

  private async save(e: AgentEntry): Promise<void> {
    await this.table?.save(e.descriptor.agentId, {
      descriptor: AgentDescriptor.toJSON(e.descriptor),
      state: e.state,
      stateSinceMs: e.stateSinceMs,
      health: [...e.health],
      registeredAtMs: e.registeredAtMs,
      lastSeenMs: e.lastSeenMs,
    });
  }
}
