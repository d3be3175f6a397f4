// SPDX-License-Identifier: Apache-2.0
// WorktreeService (spec §3.9): the binding state machine of @ecps/sw4rm (WorktreeManager) over real git worktrees,
// with policy hooks, exclusive worktrees (one agent at a time), HITL for guarded switches and durable bindings.
import type { Clock, Logger } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import { KvJsonTable, NO_AUTH, WorktreeManager } from '@ecps/sw4rm';
import type { Authenticator, BindRetryOptions, KvStore, WorktreeBinding, WorktreeHooks } from '@ecps/sw4rm';
import type {
  BindRequest,
  BindResponse,
  StatusRequest,
  StatusResponse,
  SwitchApprove,
  SwitchReject,
  SwitchRequest,
  UnbindRequest,
  UnbindResponse,
} from '@ecps/sw4rm/proto';
import { GitWorktrees, WorktreeBindError } from './git-worktrees';
import type { GitWorktreesOptions } from './git-worktrees';

/** Options of {@link WorktreeService.open}. */
export interface WorktreeServiceOptions {
  /** Repositories and the worktree root (real `git worktree` operations). */
  git: GitWorktreesOptions;
  /** Policy: return false to refuse a bind (`policy_denied`). */
  beforeBind?: WorktreeHooks['beforeBind'];
  afterBind?: WorktreeHooks['afterBind'];
  /** A switch with `requires_hitl` asks a person (HITL WORKTREE_OVERRIDE); resolve true to approve it, false to reject. */
  askHuman?(binding: WorktreeBinding): Promise<boolean>;
  /** Retries of binds that failed with `filesystem_error` / `worktree_locked` (default 3, from 1 s doubling; notify after 60 s). */
  bindRetry?: BindRetryOptions;
  /** An agent is still BIND_FAILED `bindRetry.notifyAfterMs` after its bind failed. */
  onBindStuck?: WorktreeHooks['onBindStuck'];
  /** Non-home TTL when ApproveSwitch sets none; default 300 000 ms. */
  defaultTtlMs?: number;
  /** Durable bindings (namespace `worktree`); memory only when absent. */
  store?: KvStore;
  clock?: Clock;
  logger?: Logger;
}

/** WorktreeService state and RPC semantics. */
export class WorktreeService {
  readonly git: GitWorktrees;
  private manager!: WorktreeManager;
  private readonly table: KvJsonTable<WorktreeBinding> | undefined;
  /** Last saved JSON per agent: only changed bindings are written. */
  private readonly saved = new Map<string, string>();
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly logger: Logger;

  private constructor(private readonly options: WorktreeServiceOptions) {
    this.git = new GitWorktrees(options.git);
    this.table = options.store ? new KvJsonTable(options.store, 'worktree') : undefined;
    this.logger = options.logger ?? silentLogger;
  }

  /** A service with its persisted bindings restored. @throws EcpsError IO_ERROR, LOG_CORRUPT from the store. */
  static async open(options: WorktreeServiceOptions): Promise<WorktreeService> {
    const s = new WorktreeService(options);
    const loaded = s.table ? [...(await s.table.load()).values()] : [];
    for (const b of loaded) s.saved.set(b.agentId, JSON.stringify(b));
    s.manager = new WorktreeManager({
      clock: options.clock ?? systemClock,
      logger: s.logger,
      ...(options.defaultTtlMs !== undefined ? { defaultTtlMs: options.defaultTtlMs } : {}),
      ...(options.bindRetry ? { bindRetry: options.bindRetry } : {}),
      store: { load: () => loaded, save: (bindings) => s.persist(bindings) },
      hooks: {
        beforeBind: async (repoId, worktreeId, current) => (await options.beforeBind?.(repoId, worktreeId, current)) ?? true,
        bind: async (repoId, worktreeId, agentId) => {
          const other = s.holder(repoId, worktreeId, agentId); // a retry must not take a worktree bound meanwhile
          if (other) throw new WorktreeBindError('worktree_locked', `bound by ${other}`);
          await s.git.ensure(repoId, worktreeId);
        },
        ...(options.onBindStuck ? { onBindStuck: options.onBindStuck } : {}),
        ...(options.afterBind ? { afterBind: options.afterBind } : {}),
        onHitlRequired: (binding) => s.escalate(binding),
      },
    });
    return s;
  }

  /** The directory an agent works in now (its bound worktree), or undefined when unbound. */
  workdirOf(agentId: string): string | undefined {
    const b = this.manager.status(agentId);
    if (b.state !== 'BOUND_HOME' && b.state !== 'BOUND_NON_HOME' && b.state !== 'SWITCH_PENDING') return undefined;
    return this.git.pathOf(b.repoId, b.worktreeId);
  }

  async bind(req: BindRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<BindResponse> {
    auth.authorize(identity, req.agentId, 'bind worktrees');
    if (!req.agentId || !req.repoId || !req.worktreeId) return { ok: false, reason: 'validation_error: agent_id, repo_id and worktree_id are required' };
    const r = await this.manager.bind(req.agentId, req.repoId, req.worktreeId);
    await this.lastWrite;
    return r;
  }

  async unbind(req: UnbindRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<UnbindResponse> {
    auth.authorize(identity, req.agentId, 'unbind worktrees');
    const r = this.manager.unbind(req.agentId);
    await this.lastWrite;
    return { ok: r.ok };
  }

  async requestSwitch(req: SwitchRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<StatusResponse> {
    auth.authorize(identity, req.agentId, 'request worktree switches');
    const b = this.manager.requestSwitch(req.agentId, req.targetWorktreeId, req.requiresHitl);
    await this.lastWrite;
    return this.response(b);
  }

  /** ApproveSwitch: a supervisor's decision (admins only when callers are identified). */
  async approveSwitch(req: SwitchApprove, identity?: string, auth: Authenticator = NO_AUTH): Promise<StatusResponse> {
    auth.authorizeAdmin(identity, 'approve worktree switches');
    const pending = this.manager.status(req.agentId);
    if (pending.state === 'SWITCH_PENDING' && pending.pendingTarget === req.targetWorktreeId) {
      const other = this.holder(pending.repoId, req.targetWorktreeId, req.agentId);
      try {
        if (other) throw new Error(`worktree_locked: bound by ${other}`);
        await this.git.ensure(pending.repoId, req.targetWorktreeId);
      } catch (err) {
        this.logger.warn('switch target unavailable; switch rejected', { agentId: req.agentId, error: String(err) });
        this.manager.rejectSwitch(req.agentId);
        await this.lastWrite;
        return this.response(this.manager.status(req.agentId));
      }
    }
    const b = this.manager.approveSwitch(req.agentId, req.targetWorktreeId, Number(req.ttlMs));
    await this.lastWrite;
    return this.response(b);
  }

  async rejectSwitch(req: SwitchReject, identity?: string, auth: Authenticator = NO_AUTH): Promise<StatusResponse> {
    auth.authorizeAdmin(identity, 'reject worktree switches');
    const b = this.manager.rejectSwitch(req.agentId);
    await this.lastWrite;
    return this.response(b);
  }

  async status(req: StatusRequest): Promise<StatusResponse> {
    return this.response(this.manager.status(req.agentId));
  }

  /** Resolves once every binding change so far is durable. */
  idle(): Promise<void> {
    return this.lastWrite;
  }

  /** Clears the TTL timers. */
  close(): void {
    this.manager.close();
  }

  private response(b: WorktreeBinding): StatusResponse {
    return { repoId: b.repoId, worktreeId: b.worktreeId, state: b.state };
  }

  /** Another agent currently bound to (or switching to) this worktree, if any. */
  private holder(repoId: string, worktreeId: string, except: string): string | undefined {
    for (const [agentId, json] of this.saved) {
      if (agentId === except) continue;
      const b = JSON.parse(json) as WorktreeBinding;
      if (b.repoId === repoId && (b.worktreeId === worktreeId || b.pendingTarget === worktreeId) && b.state !== 'UNBOUND' && b.state !== 'BIND_FAILED') return agentId;
    }
    return undefined;
  }

  private persist(bindings: WorktreeBinding[]): void {
    const ops = [];
    for (const b of bindings) {
      const json = JSON.stringify(b);
      if (this.saved.get(b.agentId) === json) continue;
      this.saved.set(b.agentId, json);
      if (this.table) ops.push(this.table.put(b.agentId, b));
    }
    if (!ops.length || !this.options.store) return;
    this.lastWrite = this.options.store.commit(ops).catch((err: unknown) => this.logger.error('worktree binding not saved', { error: String(err) }));
  }

  private escalate(binding: WorktreeBinding): void {
    if (!this.options.askHuman) return;
    this.options.askHuman({ ...binding }).then(
      async (approved) => {
        if (approved) await this.approveSwitch({ agentId: binding.agentId, targetWorktreeId: binding.pendingTarget, ttlMs: 0n });
        else await this.rejectSwitch({ agentId: binding.agentId, reason: 'denied by a person' });
      },
      (err: unknown) => this.logger.warn('HITL for worktree switch failed; the switch stays pending', { agentId: binding.agentId, error: String(err) }),
    );
  }
}
