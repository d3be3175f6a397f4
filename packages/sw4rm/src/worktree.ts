// SPDX-License-Identifier: Apache-2.0
// Worktree binding state machine (spec §3.9) with policy hooks, switch TTLs and persistence.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { ValidationError, silentLogger, systemClock } from '@ecps/core';
import { readFileIfExists, writeFileAtomic } from './json-file';

/** Binding states, as sent in StatusResponse.state. */
export type WorktreeState = 'UNBOUND' | 'BOUND_HOME' | 'SWITCH_PENDING' | 'BOUND_NON_HOME' | 'BIND_FAILED';

/** Events of the machine. */
export type WorktreeEvent = 'BIND_OK' | 'BIND_ERROR' | 'RESET' | 'UNBIND' | 'SWITCH_REQUEST' | 'SWITCH_APPROVE' | 'SWITCH_REJECT' | 'SWITCH_REVOKE' | 'TTL_EXPIRED';

/** The transition table; everything else is rejected. */
export const WORKTREE_TRANSITIONS: Readonly<Record<WorktreeState, Partial<Record<WorktreeEvent, WorktreeState>>>> = {
  UNBOUND: { BIND_OK: 'BOUND_HOME', BIND_ERROR: 'BIND_FAILED' },
  BIND_FAILED: { RESET: 'UNBOUND', UNBIND: 'UNBOUND', BIND_OK: 'BOUND_HOME', BIND_ERROR: 'BIND_FAILED' },
  BOUND_HOME: { SWITCH_REQUEST: 'SWITCH_PENDING', UNBIND: 'UNBOUND' },
  SWITCH_PENDING: { SWITCH_APPROVE: 'BOUND_NON_HOME', SWITCH_REJECT: 'BOUND_HOME' },
  BOUND_NON_HOME: { TTL_EXPIRED: 'BOUND_HOME', SWITCH_REVOKE: 'BOUND_HOME', UNBIND: 'UNBOUND' },
};

/** The persisted binding of one agent. */
export interface WorktreeBinding {
  agentId: string;
  state: WorktreeState;
  repoId: string;
  homeWorktreeId: string;
  worktreeId: string;
  pendingTarget: string;
  nonHomeUntilMs: number;
}

/** Reasons a bind can fail (`bind` callback throws one of these as `Error.message` prefix). */
export type BindFailure = 'worktree_not_found' | 'permission_denied' | 'filesystem_error' | 'worktree_locked';

/** Policy and effect hooks. */
export interface WorktreeHooks {
  /** Return false to refuse a bind (`policy_denied`, state unchanged). */
  beforeBind?(repoId: string, worktreeId: string, current: WorktreeBinding): boolean | Promise<boolean>;
  /** Performs the bind (e.g. checks the directory); throw `Error(<BindFailure>)` on failure. */
  bind?(repoId: string, worktreeId: string, agentId: string): void | Promise<void>;
  afterBind?(binding: WorktreeBinding): void | Promise<void>;
  /** Called for switches with `requires_hitl` (HITL WORKTREE_OVERRIDE). */
  onHitlRequired?(binding: WorktreeBinding): void;
  /** Called once when an agent is still BIND_FAILED `notifyAfterMs` after its bind failed (retries exhausted or not). */
  onBindStuck?(binding: WorktreeBinding, reason: BindFailure): void;
}

/** Automatic retries of a failed bind (spec: at most 3, exponential backoff, notify after 60 s). */
export interface BindRetryOptions {
  /** Retries after the first failure; default 3 (0 = none). */
  attempts?: number;
  /** Delay before the first retry; default 1000 ms, doubling each time. */
  initialDelayMs?: number;
  /** Cap of one delay; default 30 000 ms. */
  maxDelayMs?: number;
  /** When `onBindStuck` fires (and a WARN is logged) if the agent is still BIND_FAILED; default 60 000 ms. */
  notifyAfterMs?: number;
}

/** Failures a retry can cure (a busy or failing file system); the others are answers, not accidents. */
const TRANSIENT_BIND_FAILURES: ReadonlySet<BindFailure> = new Set(['filesystem_error', 'worktree_locked']);

/** Where bindings persist. */
export interface WorktreeStore {
  load(): WorktreeBinding[];
  save(bindings: WorktreeBinding[]): void;
}

/** JSON-file store (atomic saves). */
export function jsonFileWorktreeStore(path: string): WorktreeStore {
  return {
    load: () => {
      const text = readFileIfExists(path);
      return text === undefined ? [] : (JSON.parse(text) as WorktreeBinding[]);
    },
    save: (bindings) => writeFileAtomic(path, JSON.stringify(bindings)),
  };
}

/** Options of {@link WorktreeManager}. */
export interface WorktreeManagerOptions {
  hooks?: WorktreeHooks;
  store?: WorktreeStore;
  clock?: Clock;
  logger?: Logger;
  /** Default non-home TTL; 300 000 ms. */
  defaultTtlMs?: number;
  /** Retries of binds failing with `filesystem_error` / `worktree_locked` (timers on `clock`). */
  bindRetry?: BindRetryOptions;
}

/** Result of bind/unbind. */
export interface WorktreeResult {
  ok: boolean;
  reason: string;
}

/** Bindings of every agent, with the RPC semantics of WorktreeService. */
export class WorktreeManager {
  private readonly bindings = new Map<string, WorktreeBinding>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: WorktreeManagerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    for (const b of options.store?.load() ?? []) {
      this.bindings.set(b.agentId, b);
      if (b.state === 'BOUND_NON_HOME') this.armTtl(b);
    }
  }

  /** Current binding (UNBOUND with empty ids for unknown agents). */
  status(agentId: string): WorktreeBinding {
    return { ...(this.bindings.get(agentId) ?? this.fresh(agentId)) };
  }

  /**
   * Binds `agentId` to `repoId/worktreeId` (from UNBOUND or BIND_FAILED). A transient failure leaves it BIND_FAILED
   * and schedules bounded retries with exponential backoff (see {@link BindRetryOptions}); a new bind, an unbind or
   * an unbind cancels them.
   */
  async bind(agentId: string, repoId: string, worktreeId: string): Promise<WorktreeResult> {
    const b = this.bindings.get(agentId) ?? this.fresh(agentId);
    if (b.state === 'BOUND_HOME' && b.repoId === repoId && b.worktreeId === worktreeId) return { ok: true, reason: '' };
    if (b.state !== 'UNBOUND' && b.state !== 'BIND_FAILED') return { ok: false, reason: 'already_bound' };
    const hooks = this.options.hooks ?? {};
    if (hooks.beforeBind && !(await hooks.beforeBind(repoId, worktreeId, { ...b }))) return { ok: false, reason: 'policy_denied' };
    this.stopRetries(agentId);
    return this.attemptBind(b, repoId, worktreeId, 0, this.clock.now());
  }

  private async attemptBind(b: WorktreeBinding, repoId: string, worktreeId: string, retry: number, firstFailureMs: number): Promise<WorktreeResult> {
    const hooks = this.options.hooks ?? {};
    try {
      await hooks.bind?.(repoId, worktreeId, b.agentId);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const reason = (['worktree_not_found', 'permission_denied', 'filesystem_error', 'worktree_locked'] as const).find((r) => msg.startsWith(r)) ?? 'filesystem_error';
      if (b.state !== 'BIND_FAILED') this.apply(b, 'BIND_ERROR');
      this.scheduleRetry(b, repoId, worktreeId, reason, retry, retry === 0 ? this.clock.now() : firstFailureMs);
      return { ok: false, reason };
    }
    this.stopRetries(b.agentId);
    Object.assign(b, { repoId, homeWorktreeId: worktreeId, worktreeId });
    this.apply(b, 'BIND_OK');
    await hooks.afterBind?.({ ...b });
    return { ok: true, reason: '' };
  }

  private scheduleRetry(b: WorktreeBinding, repoId: string, worktreeId: string, reason: BindFailure, retry: number, firstFailureMs: number): void {
    const opts = this.options.bindRetry ?? {};
    const key = `retry:${b.agentId}`;
    if (retry === 0) {
      const notifyKey = `stuck:${b.agentId}`;
      this.arm(notifyKey, opts.notifyAfterMs ?? 60_000, () => {
        if (b.state !== 'BIND_FAILED') return;
        this.logger.warn('worktree bind still failing', { agentId: b.agentId, repoId, worktreeId, reason, sinceMs: firstFailureMs });
        this.options.hooks?.onBindStuck?.({ ...b }, reason);
      });
    }
    if (!TRANSIENT_BIND_FAILURES.has(reason) || retry >= (opts.attempts ?? 3)) return;
    const delay = Math.min(opts.maxDelayMs ?? 30_000, (opts.initialDelayMs ?? 1000) * 2 ** retry);
    this.arm(key, delay, () => {
      if (b.state !== 'BIND_FAILED') return;
      void this.attemptBind(b, repoId, worktreeId, retry + 1, firstFailureMs).catch((err: unknown) => this.logger.error('worktree bind retry failed', { agentId: b.agentId, error: String(err) }));
    });
  }

  private stopRetries(agentId: string): void {
    for (const key of [`retry:${agentId}`, `stuck:${agentId}`]) {
      const t = this.timers.get(key);
      if (t !== undefined) this.clock.clearTimeout(t);
      this.timers.delete(key);
    }
  }

  private arm(key: string, ms: number, fn: () => void): void {
    const old = this.timers.get(key);
    if (old !== undefined) this.clock.clearTimeout(old);
    this.timers.set(
      key,
      this.clock.setTimeout(() => {
        this.timers.delete(key);
        fn();
      }, ms),
    );
  }

  unbind(agentId: string): WorktreeResult {
    const b = this.bindings.get(agentId);
    if (!b || b.state === 'UNBOUND') return { ok: true, reason: '' };
    if (b.state === 'SWITCH_PENDING') return { ok: false, reason: 'switch_pending' };
    this.stopRetries(agentId);
    this.apply(b, 'UNBIND');
    Object.assign(b, { repoId: '', homeWorktreeId: '', worktreeId: '', pendingTarget: '' });
    this.persist();
    return { ok: true, reason: '' };
  }

  requestSwitch(agentId: string, target: string, requiresHitl: boolean): WorktreeBinding {
    const b = this.bindings.get(agentId);
    if (b?.state === 'BOUND_HOME') {
      b.pendingTarget = target;
      this.apply(b, 'SWITCH_REQUEST');
      if (requiresHitl) this.options.hooks?.onHitlRequired?.({ ...b });
    }
    return this.status(agentId);
  }

  approveSwitch(agentId: string, target: string, ttlMs: number): WorktreeBinding {
    const b = this.bindings.get(agentId);
    if (b?.state === 'SWITCH_PENDING' && b.pendingTarget === target) {
      b.worktreeId = target;
      b.pendingTarget = '';
      b.nonHomeUntilMs = this.clock.now() + (ttlMs > 0 ? ttlMs : (this.options.defaultTtlMs ?? 300_000));
      this.apply(b, 'SWITCH_APPROVE');
      this.armTtl(b);
    }
    return this.status(agentId);
  }

  rejectSwitch(agentId: string): WorktreeBinding {
    const b = this.bindings.get(agentId);
    if (b?.state === 'SWITCH_PENDING') {
      b.pendingTarget = '';
      this.apply(b, 'SWITCH_REJECT');
    }
    return this.status(agentId);
  }

  /** Ends a non-home binding early. */
  revokeSwitch(agentId: string): WorktreeBinding {
    const b = this.bindings.get(agentId);
    if (b?.state === 'BOUND_NON_HOME') this.returnHome(b, 'SWITCH_REVOKE');
    return this.status(agentId);
  }

  /** Clears TTL timers. */
  close(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  private fresh(agentId: string): WorktreeBinding {
    return { agentId, state: 'UNBOUND', repoId: '', homeWorktreeId: '', worktreeId: '', pendingTarget: '', nonHomeUntilMs: 0 };
  }

  private returnHome(b: WorktreeBinding, event: 'SWITCH_REVOKE' | 'TTL_EXPIRED'): void {
    const t = this.timers.get(b.agentId);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(b.agentId);
    b.worktreeId = b.homeWorktreeId;
    b.nonHomeUntilMs = 0;
    this.apply(b, event);
  }

  private armTtl(b: WorktreeBinding): void {
    const old = this.timers.get(b.agentId);
    if (old !== undefined) this.clock.clearTimeout(old);
    const delay = Math.max(0, b.nonHomeUntilMs - this.clock.now());
    this.timers.set(
      b.agentId,
      this.clock.setTimeout(() => {
        this.timers.delete(b.agentId);
        if (b.state === 'BOUND_NON_HOME') this.returnHome(b, 'TTL_EXPIRED');
      }, delay),
    );
  }

  /** @throws ValidationError INVALID_ARGUMENT for a transition not in the table. */
  private apply(b: WorktreeBinding, event: WorktreeEvent): void {
    const to = WORKTREE_TRANSITIONS[b.state][event];
    if (!to) throw new ValidationError('INVALID_ARGUMENT', `worktree ${b.state} does not accept ${event}`);
    this.logger.info('worktree transition', { agentId: b.agentId, from: b.state, event, to });
    b.state = to;
    this.bindings.set(b.agentId, b);
    this.persist();
  }

  private persist(): void {
    this.options.store?.save([...this.bindings.values()]);
  }
}
