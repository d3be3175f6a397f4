// SPDX-License-Identifier: Apache-2.0
// The SW4RM registry (spec §3.2): descriptors, heartbeats, stale marking — never eviction for missed heartbeats.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import { AgentState, CommunicationClass, isAgentTransitionAllowed, readFileIfExists, writeFileAtomic } from '@ecps/sw4rm';
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
  health: Record<string, string>;
  registeredAtMs: number;
  lastSeenMs: number;
  stale: boolean;
}

/** Options of {@link Registry}. */
export interface RegistryOptions {
  /** Stale after this long without a heartbeat; default 90 000 ms (`SW4RM_REGISTRY_STALE_SECONDS`). */
  staleAfterMs?: number;
  /** How often staleness is checked; default 1000 ms. */
  checkIntervalMs?: number;
  /** JSON file persisting descriptors (atomic writes); none = memory only. */
  persistPath?: string;
  clock?: Clock;
  logger?: Logger;
  /** Called when an agent turns stale (e.g. to announce it). */
  onStale?(entry: AgentEntry): void;
}

const MAX_DESCRIPTION_WORDS = 200;

/** Registry state and RPC semantics. */
export class Registry {
  private readonly agents = new Map<string, AgentEntry>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly staleAfterMs: number;
  private timer: TimerHandle | undefined;

  constructor(private readonly options: RegistryOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.staleAfterMs = options.staleAfterMs ?? 90_000;
    if (options.persistPath) {
      const text = readFileIfExists(options.persistPath);
      const saved = text === undefined ? [] : (JSON.parse(text) as { descriptor: unknown; state: AgentState; lastSeenMs: number; registeredAtMs: number }[]);
      for (const s of saved) {
        // a restarted registry has not heard from anyone yet: entries start stale until their next heartbeat
        this.agents.set(AgentDescriptor.fromJSON(s.descriptor).agentId, {
          descriptor: AgentDescriptor.fromJSON(s.descriptor),
          state: s.state,
          health: {},
          registeredAtMs: s.registeredAtMs,
          lastSeenMs: s.lastSeenMs,
          stale: true,
        });
      }
    }
    this.arm();
  }

  /** RegisterAgent: validates, inserts or updates the descriptor. */
  async registerAgent(req: RegisterAgentRequest): Promise<RegisterAgentResponse> {
    const agent = req.agent ? AgentDescriptor.fromPartial(req.agent) : undefined;
    if (!agent) return { accepted: false, reason: 'validation_error: agent is required' };
    if (!agent.agentId) return { accepted: false, reason: 'validation_error: agent_id is required' };
    const words = agent.description.trim() ? agent.description.trim().split(/\s+/).length : 0;
    if (words > MAX_DESCRIPTION_WORDS) return { accepted: false, reason: `validation_error: description has ${words} words (max ${MAX_DESCRIPTION_WORDS})` };
    const now = this.clock.now();
    const existing = this.agents.get(agent.agentId);
    // COMM_CLASS_UNSPECIFIED (what invalid class names encode to) is treated as STANDARD
    const descriptor = { ...agent, communicationClass: agent.communicationClass || CommunicationClass.STANDARD };
    this.agents.set(agent.agentId, {
      descriptor,
      state: existing?.state ?? AgentState.INITIALIZING,
      health: existing?.health ?? {},
      registeredAtMs: existing?.registeredAtMs ?? now,
      lastSeenMs: now,
      stale: false,
    });
    this.persist();
    this.logger.info(existing ? 'agent re-registered' : 'agent registered', { agentId: agent.agentId });
    return { accepted: true, reason: '' };
  }

  /** Heartbeat: unknown → ok=false; known → refresh last_seen/state/health, clear stale. */
  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    const entry = this.agents.get(req.agentId);
    if (!entry) return { ok: false };
    const to = req.state as AgentState;
    if (to !== AgentState.AGENT_STATE_UNSPECIFIED && to > 0) {
      if (!isAgentTransitionAllowed(entry.state, to)) {
        this.logger.warn('heartbeat reports a transition outside the state table', { agentId: req.agentId, from: AgentState[entry.state], to: AgentState[to] ?? to });
      }
      entry.state = to;
    }
    entry.health = { ...req.health };
    entry.lastSeenMs = this.clock.now();
    entry.stale = false;
    return { ok: true };
  }

  /** DeregisterAgent: explicit removal; unknown → ok=false. */
  async deregisterAgent(req: DeregisterAgentRequest): Promise<DeregisterAgentResponse> {
    if (!this.agents.delete(req.agentId)) return { ok: false };
    this.persist();
    this.logger.info('agent deregistered', { agentId: req.agentId, reason: req.reason });
    return { ok: true };
  }

  /** Every agent (stale ones included), sorted by id. */
  list(): AgentEntry[] {
    return [...this.agents.values()].sort((a, b) => (a.descriptor.agentId < b.descriptor.agentId ? -1 : 1));
  }

  get(agentId: string): AgentEntry | undefined {
    return this.agents.get(agentId);
  }

  /** Marks agents stale whose last heartbeat is older than `staleAfter`. Never removes anyone. */
  checkStale(): void {
    const now = this.clock.now();
    for (const entry of this.agents.values()) {
      if (!entry.stale && now - entry.lastSeenMs >= this.staleAfterMs) {
        entry.stale = true;
        this.logger.warn('agent stale (no heartbeat)', { agentId: entry.descriptor.agentId, lastSeenMs: entry.lastSeenMs });
        this.options.onStale?.(entry);
      }
    }
  }

  /** Stops the staleness timer. */
  close(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => {
      this.checkStale();
      this.arm();
    }, this.options.checkIntervalMs ?? 1000);
  }

  private persist(): void {
    if (!this.options.persistPath) return;
    const data = [...this.agents.values()].map((e) => ({
      descriptor: AgentDescriptor.toJSON(e.descriptor),
      state: e.state,
      lastSeenMs: e.lastSeenMs,
      registeredAtMs: e.registeredAtMs,
    }));
    writeFileAtomic(this.options.persistPath, JSON.stringify(data));
  }
}
