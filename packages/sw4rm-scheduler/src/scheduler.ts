// SPDX-License-Identifier: Apache-2.0
// The SW4RM scheduler (spec §3.3): per-agent priority queues (−19 highest … 20), FIFO within a priority,
// cooperative preemption with forced TERMINATE/KILL past the bound, lanes, and the activity buffer.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger, systemClock } from '@ecps/core';
import { AgentState, CommunicationClass, KvJsonTable, durationToMs } from '@ecps/sw4rm';
import type { KvOp, KvStore } from '@ecps/sw4rm';
import type {
  ActivityEntry,
  ParallelismCheckRequest,
  ParallelismCheckResponse,
  PollActivityBufferRequest,
  PollActivityBufferResponse,
  PreemptRequest,
  PreemptResponse,
  PurgeActivityRequest,
  PurgeActivityResponse,
  ShutdownAgentRequest,
  ShutdownAgentResponse,
  SubmitTaskRequest,
  SubmitTaskResponse,
} from '@ecps/sw4rm/proto';
import { LaneQueue } from './lanes';
import type { LaneOptions } from './lanes';

/** Task lifecycle. */
export type TaskState = 'QUEUED' | 'RUNNING' | 'PREEMPTING' | 'COMPLETED' | 'FAILED';

/** A CONTROL command to an agent ([ours] JSON, `application/vnd.sw4rm.control+json;v=1`). */
export interface ControlCommand {
  op: 'RUN' | 'PREEMPT_REQUEST' | 'TERMINATE' | 'KILL';
  agentId: string;
  taskId?: string;
  graceMs?: number;
  reason?: string;
  params?: Uint8Array;
  contentType?: string;
}

/** One task as the scheduler tracks it. */
export interface Task {
  agentId: string;
  taskId: string;
  priority: number;
  params: Uint8Array;
  contentType: string;
  scope: string;
  state: TaskState;
  order: number;
  submittedAtMs: number;
  finishedAtMs?: number;
  /** e.g. `forced_preemption`, `agent_shutdown`, `control_refused: …`. */
  failReason?: string;
  /** What the agent reported with COMPLETED (e.g. JSON for a workflow node). */
  output?: string;
  /** RUN commands the router refused so far. */
  runRefusals?: number;
  /** A refused RUN is retried no earlier than this. */
  notBeforeMs?: number;
  /** Tokens the task may use ([ours], set on submit); unset = no limit. */
  tokenBudget?: number;
  /** Tokens reported used so far ({@link Scheduler.reportUsage}). */
  tokensUsed?: number;
}

/** Options of one {@link Scheduler.submitTask} call (in-process callers; SubmitTaskRequest has no such fields). */
export interface SubmitOptions {
  /** Token budget of the task: once reported usage reaches it the task is cancelled (`budget_exhausted`). */
  tokenBudget?: number;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /**
   * Delivers CONTROL commands (e.g. as envelopes through the router, to their addressee only). Commands leave in
   * lane order. Throw (or reject) when the command was refused: a refused RUN is retried, then the task FAILS.
   */
  sendControl?(command: ControlCommand): Promise<void> | void;
  /** Called when a task ends COMPLETED or FAILED (e.g. to advance a workflow). */
  onFinished?(task: Task): void;
  /** The agent's registered communication class (UNSPECIFIED → STANDARD). */
  classOf?(agentId: string): CommunicationClass;
  clock?: Clock;
  logger?: Logger;
  lanes?: LaneOptions;
  maxActivity?: number;
  maxActivityPerAgent?: number;
  /** How long an agent may take to yield after PREEMPT_REQUEST before TERMINATE; default 3000 ms [ours]. */
  preemptTimeoutMs?: number;
  /** Grace between TERMINATE and KILL; default 3000 ms. */
  terminateGraceMs?: number;
  /** How long finished tasks answer duplicates (then they are forgotten); default 3 600 000 ms. */
  dedupWindowMs?: number;
  /** RUN attempts when the transport refuses the command (backoff 1 s doubling ≤ 30 s), then FAILED; default 5. */
  maxRunAttempts?: number;
  /** Durable store (namespaces `scheduler/…`); memory only when absent. */
  store?: KvStore;
  /**
   * Tasks one agent may run at the same time (`max_parallel_instances`; a function for per-agent / per-type
   * limits); default 1. Never exceeded: RUN goes out only while fewer tasks are RUNNING or PREEMPTING.
   */
  maxParallel?: number | ((agentId: string) => number);
  /**
   * ReasoningProxy (a `createClient('reasoning', …)` client fits): asked `CheckParallelism(scope, runningScope)`
   * before a task runs alongside another of the same agent (only when `maxParallel` > 1). A confidence at or above
   * `parallelismThreshold` lets them overlap; below it `resolveConflict` decides (else they serialise); a failed
   * call serialises (conservative). Verdicts are cached per pair of scopes for `parallelismCacheMs`.
   */
  reasoning?: ParallelismChecker;
  /** Lowest CheckParallelism confidence that lets two tasks overlap; default 0.7 [ours]. */
  parallelismThreshold?: number;
  /** How long a CheckParallelism verdict is reused; default 600 000 ms (a failed call: 5000 ms). */
  parallelismCacheMs?: number;
  /** Below the threshold (e.g. HITL `CONFLICT`): resolve true to let the two tasks overlap anyway. Default: serialise. */
  resolveConflict?(conflict: ScopeConflict): Promise<boolean>;
  /**
   * Without `reasoning` only: whether a task with scope `a` may run alongside one with scope `b`. Default: only
   * non-empty, different scopes (an empty scope may touch anything: serialise).
   */
  canRunAlongside?(a: string, b: string): boolean;
}

/** The part of a ReasoningProxy client the scheduler uses. */
export interface ParallelismChecker {
  checkParallelism(request: ParallelismCheckRequest): Promise<ParallelismCheckResponse>;
}

/** Two scopes ReasoningProxy would not let overlap (for {@link SchedulerOptions.resolveConflict}). */
export interface ScopeConflict {
  agentId: string;
  taskId: string;
  scope: string;
  runningTaskId: string;
  runningScope: string;
  confidence: number;
  notes: string;
}

const BUDGET_EXHAUSTED = 'budget_exhausted';
const disjointScopes = (a: string, b: string) => a !== '' && b !== '' && a !== b;
const MAX_VERDICTS = 1024;

/** A cached overlap verdict: `alongside` undefined while the question is open. */
interface Verdict {
  alongside?: boolean;
  untilMs: number;
  /** Agents whose queue waits for this verdict. */
  waiting: Set<string>;
}

type ActivityRecord = ActivityEntry & { agentId: string };
type SavedTask = Omit<Task, 'params'> & { params: string };

const TERMINAL: ReadonlySet<TaskState> = new Set(['COMPLETED', 'FAILED']);

/** Scheduler state and RPC semantics. */
export class Scheduler {
  private readonly tasks = new Map<string, Task>();
  /** Finished tasks in finishing order (pruned from the front after the dedup window). */
  private readonly finished = new Map<string, number>();
  private readonly activity = new Map<string, ActivityRecord>();
  private readonly agentStates = new Map<string, AgentState>();
  private readonly taskTable: KvJsonTable<SavedTask> | undefined;
  private readonly activityTable: KvJsonTable<ActivityRecord> | undefined;
  private readonly agentTable: KvJsonTable<AgentState> | undefined;
  /** The last write issued: answers wait for it (commits apply in order). */
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly nonPreemptibleUntil = new Map<string, number>();
  private readonly outbox: LaneQueue<ControlCommand>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly verdicts = new Map<string, Verdict>();
  private order = 0;
  private pumping = false;
  private warned = false;

  constructor(private readonly options: SchedulerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.outbox = new LaneQueue({ ...options.lanes, clock: this.clock });
    if (options.store) {
      this.taskTable = new KvJsonTable(options.store, 'scheduler/tasks');
      this.activityTable = new KvJsonTable(options.store, 'scheduler/activity');
      this.agentTable = new KvJsonTable(options.store, 'scheduler/agents');
    }
  }

  /**
   * A scheduler with its persisted tasks, activity entries and agent states restored. Tasks RUNNING at the crash
   * stay RUNNING (their agents report on them); queued ones are dispatched.
   * @throws EcpsError IO_ERROR, LOG_CORRUPT from the store.
   */
  static async open(options: SchedulerOptions = {}): Promise<Scheduler> {
    const s = new Scheduler(options);
    if (s.taskTable && s.activityTable && s.agentTable) {
      const tasks = [...(await s.taskTable.load()).values()].sort((a, b) => a.order - b.order);
      for (const t of tasks) {
        const task: Task = { ...t, params: new Uint8Array(Buffer.from(t.params, 'base64')) };
        s.tasks.set(s.key(t.agentId, t.taskId), task);
        s.order = Math.max(s.order, t.order);
      }
      for (const t of tasks.filter((x) => x.finishedAtMs !== undefined).sort((a, b) => a.finishedAtMs! - b.finishedAtMs!)) s.finished.set(s.key(t.agentId, t.taskId), t.finishedAtMs!);
      for (const [key, e] of await s.activityTable.load()) s.activity.set(key, e);
      for (const [agentId, st] of await s.agentTable.load()) s.agentStates.set(agentId, st);
      for (const agentId of new Set(tasks.map((t) => t.agentId))) s.dispatch(agentId);
    }
    return s;
  }

  /** SubmitTask. `options` are for in-process callers (e.g. a workflow node's token budget). */
  async submitTask(req: SubmitTaskRequest, options: SubmitOptions = {}): Promise<SubmitTaskResponse> {
    this.prune();
    if (!req.agentId || !req.taskId) return { accepted: false, reason: 'validation_error: agent_id and task_id are required' };
    if (!Number.isInteger(req.priority) || req.priority < -19 || req.priority > 20) return { accepted: false, reason: 'validation_error: priority out of range' };
    const key = this.key(req.agentId, req.taskId);
    const existing = this.tasks.get(key);
    if (existing) {
      if (!TERMINAL.has(existing.state)) return { accepted: false, reason: 'already_in_progress' };
      if ((existing.finishedAtMs ?? 0) + (this.options.dedupWindowMs ?? 3_600_000) > this.clock.now()) {
        return { accepted: true, reason: `duplicate: task already ${existing.state}` };
      }
    }
    const max = this.options.maxActivity ?? 10_000;
    const perAgent = this.options.maxActivityPerAgent ?? 100;
    const mine = [...this.activity.values()].filter((e) => e.agentId === req.agentId).length;
    if (this.activity.size >= max || mine >= perAgent) return { accepted: false, reason: 'activity_buffer_full' };
    const budget = options.tokenBudget;
    if (budget !== undefined && (!Number.isSafeInteger(budget) || budget <= 0)) return { accepted: false, reason: 'validation_error: token budget must be a positive integer' };
    if (!this.warned && (this.activity.size + 1 >= 0.8 * max || mine + 1 >= 0.8 * perAgent)) {
      this.warned = true;
      this.logger.warn('activity buffer at 80 %', { total: this.activity.size + 1, agent: req.agentId, agentEntries: mine + 1 });
    }
    const now = this.clock.now();
    const task: Task = {
      agentId: req.agentId,
      taskId: req.taskId,
      priority: req.priority,
      params: req.params,
      contentType: req.contentType,
      scope: req.scope,
      state: 'QUEUED',
      order: ++this.order,
      submittedAtMs: now,
      ...(budget !== undefined ? { tokenBudget: budget, tokensUsed: 0 } : {}),
    };
    this.tasks.set(key, task);
    this.finished.delete(key);
    // the activity entry exists before execution starts
    this.activity.set(key, {
      agentId: req.agentId,
      taskId: req.taskId,
      repoId: '',
      worktreeId: '',
      branch: '',
      description: req.scope ? `task ${req.taskId}: ${req.scope}` : `task ${req.taskId}`,
      timestamp: new Date(now).toISOString(),
    });
    if (!this.agentStates.has(req.agentId)) this.setAgentState(req.agentId, AgentState.RUNNABLE);
    this.saveTask(task, [this.activityTable?.put(key, this.activity.get(key)!)]);
    this.dispatch(req.agentId);
    await this.lastWrite;
    return { accepted: true, reason: '' };
  }

  async requestPreemption(req: PreemptRequest): Promise<PreemptResponse> {
    const task = this.tasks.get(this.key(req.agentId, req.taskId));
    if (!task || TERMINAL.has(task.state)) return { enqueued: false };
    if (task.state === 'RUNNING') this.preempt(task, req.reason || 'requested');
    await this.lastWrite;
    return { enqueued: true };
  }

  async shutdownAgent(req: ShutdownAgentRequest): Promise<ShutdownAgentResponse> {
    if (!this.agentStates.has(req.agentId)) return { ok: false };
    const grace = durationToMs(req.gracePeriod, 30_000);
    this.setAgentState(req.agentId, AgentState.SHUTTING_DOWN);
    this.send({ op: 'TERMINATE', agentId: req.agentId, graceMs: grace, reason: 'shutdown' });
    this.arm(`shutdown:${req.agentId}`, grace, () => {
      this.send({ op: 'KILL', agentId: req.agentId, reason: 'agent_shutdown_timeout' });
      this.setAgentState(req.agentId, AgentState.FAILED_STATE);
      this.logger.warn('agent killed after shutdown grace', { agentId: req.agentId, trigger: 'agent_shutdown_timeout' });
      for (const t of this.tasks.values()) if (t.agentId === req.agentId && !TERMINAL.has(t.state)) this.finish(t, 'FAILED', 'agent_shutdown');
    });
    await this.lastWrite;
    return { ok: true };
  }

  async pollActivityBuffer(req: PollActivityBufferRequest): Promise<PollActivityBufferResponse> {
    const entries = [...this.activity.values()].filter((e) => !req.agentId || e.agentId === req.agentId);
    return { entries: entries.map(({ agentId: _a, ...e }) => e) };
  }

  async purgeActivity(req: PurgeActivityRequest): Promise<PurgeActivityResponse> {
    let purged = 0;
    for (const [key, e] of [...this.activity]) {
      if (e.agentId !== req.agentId) continue;
      const task = this.tasks.get(key);
      const hit = req.taskIds.length ? req.taskIds.includes(e.taskId) : !task || TERMINAL.has(task.state);
      if (hit) {
        this.activity.delete(key);
        if (this.activityTable) this.write([this.activityTable.del(key)]);
        purged++;
      }
    }
    await this.lastWrite;
    return { purged };
  }

  /**
   * An agent's report about its running task (false for any other): COMPLETED / FAILED end it (activity entry removed); YIELDED (after a
   * PREEMPT_REQUEST) puts it back in the queue at its original FIFO position.
   */
  report(agentId: string, taskId: string, status: 'COMPLETED' | 'FAILED' | 'YIELDED', reason?: string, output?: string): boolean {
    const task = this.tasks.get(this.key(agentId, taskId));
    if (!task || (task.state !== 'RUNNING' && task.state !== 'PREEMPTING')) return false;
    this.clear(`preempt:${this.key(agentId, taskId)}`);
    this.clear(`kill:${this.key(agentId, taskId)}`);
    if (task.failReason === BUDGET_EXHAUSTED) {
      this.finish(task, 'FAILED', BUDGET_EXHAUSTED); // whatever it says: its budget ran out before it finished
    } else if (status === 'YIELDED') {
      task.state = 'QUEUED';
      this.saveTask(task);
    } else {
      if (output !== undefined) task.output = output;
      this.finish(task, status, reason);
    }
    this.dispatch(agentId);
    return true;
  }

  /**
   * Tokens a running task used (reported by its agent, e.g. in report envelopes). With a token budget, a report that
   * reaches it cancels the task: TERMINATE (reason `budget_exhausted`) with the terminate grace, then KILL; the task
   * ends FAILED `budget_exhausted` (its slot is freed when the agent reports or is killed).
   * @returns the tokens left (undefined: the task has no budget).
   * @throws ValidationError INVALID_ARGUMENT (tokens not a non-negative integer); EcpsError NOT_FOUND (unknown task),
   * CONFLICT (not running), RESOURCE_EXHAUSTED `budget_exhausted` (this or an earlier report spent the budget).
   */
  reportUsage(agentId: string, taskId: string, tokens: number): number | undefined {
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new ValidationError('INVALID_ARGUMENT', `tokens must be a non-negative integer, got ${tokens}`);
    const task = this.tasks.get(this.key(agentId, taskId));
    if (!task) throw new EcpsError('NOT_FOUND', `task ${agentId}/${taskId} not found`);
    const spentMessage = () => `${BUDGET_EXHAUSTED}: task ${agentId}/${taskId} used ${task.tokensUsed} of ${task.tokenBudget} tokens`;
    if (task.failReason === BUDGET_EXHAUSTED) throw new EcpsError('RESOURCE_EXHAUSTED', spentMessage());
    if (task.state !== 'RUNNING' && task.state !== 'PREEMPTING') throw new EcpsError('CONFLICT', `task ${agentId}/${taskId} is ${task.state}`);
    task.tokensUsed = (task.tokensUsed ?? 0) + tokens;
    if (task.tokenBudget === undefined) {
      this.saveTask(task);
      return undefined;
    }
    if (task.tokensUsed < task.tokenBudget) {
      this.saveTask(task);
      return task.tokenBudget - task.tokensUsed;
    }
    const key = this.key(agentId, taskId);
    this.clear(`preempt:${key}`);
    task.state = 'PREEMPTING';
    task.failReason = BUDGET_EXHAUSTED;
    this.saveTask(task);
    const grace = this.options.terminateGraceMs ?? 3000;
    this.send({ op: 'TERMINATE', agentId, taskId, graceMs: grace, reason: BUDGET_EXHAUSTED });
    this.arm(`kill:${key}`, grace, () => {
      if (task.state !== 'PREEMPTING') return;
      this.send({ op: 'KILL', agentId, taskId, reason: BUDGET_EXHAUSTED });
      this.finish(task, 'FAILED', BUDGET_EXHAUSTED);
      this.dispatch(agentId);
    });
    throw new EcpsError('RESOURCE_EXHAUSTED', spentMessage());
  }

  /** Declares a non-preemptible section of the running task: preemption is deferred until `maxMs` from now. */
  enterNonPreemptible(agentId: string, taskId: string, maxMs: number): void {
    this.nonPreemptibleUntil.set(this.key(agentId, taskId), this.clock.now() + maxMs);
  }

  /** Ends a declared non-preemptible section. */
  leaveNonPreemptible(agentId: string, taskId: string): void {
    this.nonPreemptibleUntil.delete(this.key(agentId, taskId));
  }

  task(agentId: string, taskId: string): Task | undefined {
    const t = this.tasks.get(this.key(agentId, taskId));
    return t && { ...t };
  }

  agentState(agentId: string): AgentState | undefined {
    return this.agentStates.get(agentId);
  }

  /** Resolves once every state change so far is durable. */
  idle(): Promise<void> {
    return this.lastWrite;
  }

  /** Clears every timer. */
  close(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  private dispatch(agentId: string): void {
    const mine = [...this.tasks.values()].filter((t) => t.agentId === agentId);
    const running = mine.filter((t) => t.state === 'RUNNING' || t.state === 'PREEMPTING');
    const now = this.clock.now();
    const queued = mine.filter((t) => t.state === 'QUEUED' && (t.notBeforeMs ?? 0) <= now).sort((a, b) => a.priority - b.priority || a.order - b.order);
    const limit = Math.max(1, this.maxParallelOf(agentId));
    for (const next of queued) {
      if (running.length >= limit) {
        // every slot taken: preempt the lowest-priority running task, only for a strictly higher priority, one at a time
        if (running.some((t) => t.state === 'PREEMPTING')) return;
        const victim = running.reduce((a, b) => (b.priority > a.priority || (b.priority === a.priority && b.order > a.order) ? b : a));
        if (next.priority < victim.priority) this.preempt(victim, `higher priority task ${next.taskId}`);
        return;
      }
      if (this.agentStates.get(agentId) === AgentState.SHUTTING_DOWN || this.agentStates.get(agentId) === AgentState.FAILED_STATE) return;
      if (!running.every((r) => this.mayRunAlongside(next, r) === true)) continue; // overlapping (or not yet known) scopes wait
      next.state = 'RUNNING';
      running.push(next);
      this.setAgentState(agentId, AgentState.RUNNING);
      this.saveTask(next);
      this.send({ op: 'RUN', agentId, taskId: next.taskId, params: next.params, contentType: next.contentType });
    }
  }

  /**
   * Whether `next` may run alongside `running`: the local rule without ReasoningProxy, else its cached verdict;
   * undefined while the question is open (the agent's queue is dispatched again when the answer arrives).
   */
  private mayRunAlongside(next: Task, running: Task): boolean | undefined {
    const reasoning = this.options.reasoning;
    if (!reasoning) return (this.options.canRunAlongside ?? disjointScopes)(next.scope, running.scope);
    const key = `${next.scope}\u0000${running.scope}`;
    const now = this.clock.now();
    const known = this.verdicts.get(key);
    if (known && (known.alongside === undefined || known.untilMs > now)) {
      if (known.alongside === undefined) known.waiting.add(next.agentId);
      return known.alongside;
    }
    const verdict: Verdict = { untilMs: Infinity, waiting: new Set([next.agentId]) };
    this.verdicts.delete(key);
    this.verdicts.set(key, verdict);
    // bounded: the oldest verdicts go first (an open question is only dropped from the cache, still answered)
    for (const k of this.verdicts.keys()) {
      if (this.verdicts.size <= MAX_VERDICTS) break;
      this.verdicts.delete(k);
    }
    const cacheMs = this.options.parallelismCacheMs ?? 600_000;
    const settle = (alongside: boolean, forMs: number) => {
      verdict.alongside = alongside;
      verdict.untilMs = this.clock.now() + forMs;
      for (const agentId of verdict.waiting) this.dispatch(agentId);
      verdict.waiting.clear();
    };
    reasoning
      .checkParallelism({ scopeA: next.scope, scopeB: running.scope })
      .then(async ({ confidenceScore, notes }) => {
        if (confidenceScore >= (this.options.parallelismThreshold ?? 0.7)) return true;
        this.logger.info('scopes may not overlap', { agentId: next.agentId, taskId: next.taskId, runningTaskId: running.taskId, confidence: confidenceScore, notes });
        const conflict = { agentId: next.agentId, taskId: next.taskId, scope: next.scope, runningTaskId: running.taskId, runningScope: running.scope, confidence: confidenceScore, notes };
        return (await this.options.resolveConflict?.(conflict)) ?? false;
      })
      .then(
        (alongside) => settle(alongside, cacheMs),
        (err: unknown) => {
          this.logger.warn('CheckParallelism failed: serialising', { agentId: next.agentId, taskId: next.taskId, error: String(err) });
          settle(false, 5000);
        },
      );
    return undefined;
  }

  /** RUNNING → RUNNABLE once none of the agent's tasks runs any more. */
  private runnableIfIdle(agentId: string): void {
    if (this.agentStates.get(agentId) !== AgentState.RUNNING) return;
    for (const t of this.tasks.values()) if (t.agentId === agentId && (t.state === 'RUNNING' || t.state === 'PREEMPTING')) return;
    this.setAgentState(agentId, AgentState.RUNNABLE);
  }

  private maxParallelOf(agentId: string): number {
    const m = this.options.maxParallel ?? 1;
    return typeof m === 'number' ? m : m(agentId);
  }

  /** The transport refused a RUN: queue the task again after a backoff, FAILED after `maxRunAttempts`. */
  private runRefused(cmd: ControlCommand, error: unknown): void {
    const task = this.tasks.get(this.key(cmd.agentId, cmd.taskId ?? ''));
    if (!task || task.state !== 'RUNNING') return;
    task.runRefusals = (task.runRefusals ?? 0) + 1;
    if (task.runRefusals >= (this.options.maxRunAttempts ?? 5)) {
      this.finish(task, 'FAILED', `control_refused: ${error instanceof Error ? error.message : String(error)}`);
      this.dispatch(task.agentId);
      return;
    }
    const delay = Math.min(30_000, 1000 * 2 ** (task.runRefusals - 1));
    task.state = 'QUEUED';
    task.notBeforeMs = this.clock.now() + delay;
    this.runnableIfIdle(task.agentId);
    this.saveTask(task);
    this.arm(`retry:${this.key(task.agentId, task.taskId)}`, delay, () => this.dispatch(task.agentId));
  }

  private preempt(task: Task, reason: string): void {
    const key = this.key(task.agentId, task.taskId);
    task.state = 'PREEMPTING';
    this.saveTask(task);
    this.send({ op: 'PREEMPT_REQUEST', agentId: task.agentId, taskId: task.taskId, reason });
    const until = this.nonPreemptibleUntil.get(key);
    const wait = Math.max(this.options.preemptTimeoutMs ?? 3000, until !== undefined ? until - this.clock.now() : 0);
    this.arm(`preempt:${key}`, wait, () => {
      if (task.state !== 'PREEMPTING') return;
      const grace = this.options.terminateGraceMs ?? 3000;
      this.send({ op: 'TERMINATE', agentId: task.agentId, taskId: task.taskId, graceMs: grace, reason: 'forced_preemption' });
      this.arm(`kill:${key}`, grace, () => {
        if (task.state !== 'PREEMPTING') return;
        this.send({ op: 'KILL', agentId: task.agentId, taskId: task.taskId, reason: 'forced_preemption' });
        this.finish(task, 'FAILED', 'forced_preemption');
        this.dispatch(task.agentId);
      });
    });
  }

  private finish(task: Task, state: 'COMPLETED' | 'FAILED', reason?: string): void {
    task.state = state;
    task.finishedAtMs = this.clock.now();
    if (reason) task.failReason = reason;
    const key = this.key(task.agentId, task.taskId);
    this.finished.set(key, task.finishedAtMs);
    const hadEntry = this.activity.delete(key);
    this.nonPreemptibleUntil.delete(key);
    this.runnableIfIdle(task.agentId);
    this.saveTask(task, hadEntry && this.activityTable ? [this.activityTable.del(key)] : []);
    this.options.onFinished?.({ ...task });
  }

  /** Forgets finished tasks older than the dedup window (finishing order: stops at the first younger one). */
  private prune(): void {
    const cutoff = this.clock.now() - (this.options.dedupWindowMs ?? 3_600_000);
    const ops: KvOp[] = [];
    for (const [key, at] of this.finished) {
      if (at > cutoff) break;
      this.finished.delete(key);
      this.tasks.delete(key);
      if (this.taskTable) ops.push(this.taskTable.del(key));
    }
    this.write(ops);
  }

  private setAgentState(agentId: string, state: AgentState): void {
    this.agentStates.set(agentId, state);
    if (this.agentTable) this.write([this.agentTable.put(agentId, state)]);
  }

  private saveTask(task: Task, extra: (KvOp | undefined)[] = []): void {
    if (!this.taskTable) return;
    const { params, ...rest } = task;
    const ops = [this.taskTable.put(this.key(task.agentId, task.taskId), { ...rest, params: Buffer.from(params).toString('base64') }), ...extra];
    this.write(ops.filter((o): o is KvOp => o !== undefined));
  }

  /** Issues a commit in order; failures are logged (the next answer still waits for the write queue). */
  private write(ops: KvOp[]): void {
    if (!ops.length || !this.options.store) return;
    const commit = this.options.store.commit(ops);
    this.lastWrite = commit.catch((err: unknown) => this.logger.error('scheduler state not saved', { error: String(err) }));
  }

  private send(command: ControlCommand): void {
    this.outbox.push(command, this.options.classOf?.(command.agentId) ?? CommunicationClass.STANDARD);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let cmd = this.outbox.shift(); cmd; cmd = this.outbox.shift()) {
        try {
          await this.options.sendControl?.(cmd);
        } catch (err) {
          this.logger.warn('control delivery failed', { op: cmd.op, agentId: cmd.agentId, error: String(err) });
          if (cmd.op === 'RUN') this.runRefused(cmd, err);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private arm(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    this.timers.set(
      name,
      this.clock.setTimeout(() => {
        this.timers.delete(name);
        fn();
      }, ms),
    );
  }

  private clear(name: string): void {
    const t = this.timers.get(name);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(name);
  }

  private key(agentId: string, taskId: string): string {
    return `${agentId}\u0000${taskId}`;
  }
}
