// SPDX-License-Identifier: Apache-2.0
// The SW4RM scheduler (spec §3.3): per-agent priority queues (−19 highest … 20), FIFO within a priority,
// cooperative preemption with forced TERMINATE/KILL past the bound, lanes, and the activity buffer.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import { AgentState, CommunicationClass, durationToMs } from '@ecps/sw4rm';
import type {
  ActivityEntry,
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
  /** e.g. `forced_preemption`, `agent_shutdown`. */
  failReason?: string;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** Delivers CONTROL commands (e.g. as envelopes through the router). Commands leave in lane order. */
  sendControl?(command: ControlCommand): Promise<void> | void;
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
  /** How long finished tasks answer duplicates; default 3 600 000 ms. */
  dedupWindowMs?: number;
}

const TERMINAL: ReadonlySet<TaskState> = new Set(['COMPLETED', 'FAILED']);

/** Scheduler state and RPC semantics. */
export class Scheduler {
  private readonly tasks = new Map<string, Task>();
  private readonly activity = new Map<string, ActivityEntry & { agentId: string }>();
  private readonly agentStates = new Map<string, AgentState>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly nonPreemptibleUntil = new Map<string, number>();
  private readonly outbox: LaneQueue<ControlCommand>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private order = 0;
  private pumping = false;
  private warned = false;

  constructor(private readonly options: SchedulerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.outbox = new LaneQueue({ ...options.lanes, clock: this.clock });
  }

  async submitTask(req: SubmitTaskRequest): Promise<SubmitTaskResponse> {
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
    };
    this.tasks.set(key, task);
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
    if (!this.agentStates.has(req.agentId)) this.agentStates.set(req.agentId, AgentState.RUNNABLE);
    this.dispatch(req.agentId);
    return { accepted: true, reason: '' };
  }

  async requestPreemption(req: PreemptRequest): Promise<PreemptResponse> {
    const task = this.tasks.get(this.key(req.agentId, req.taskId));
    if (!task || TERMINAL.has(task.state)) return { enqueued: false };
    if (task.state === 'RUNNING') this.preempt(task, req.reason || 'requested');
    return { enqueued: true };
  }

  async shutdownAgent(req: ShutdownAgentRequest): Promise<ShutdownAgentResponse> {
    if (!this.agentStates.has(req.agentId)) return { ok: false };
    const grace = durationToMs(req.gracePeriod, 30_000);
    this.agentStates.set(req.agentId, AgentState.SHUTTING_DOWN);
    this.send({ op: 'TERMINATE', agentId: req.agentId, graceMs: grace, reason: 'shutdown' });
    this.arm(`shutdown:${req.agentId}`, grace, () => {
      this.send({ op: 'KILL', agentId: req.agentId, reason: 'agent_shutdown_timeout' });
      this.agentStates.set(req.agentId, AgentState.FAILED_STATE);
      this.logger.warn('agent killed after shutdown grace', { agentId: req.agentId, trigger: 'agent_shutdown_timeout' });
      for (const t of this.tasks.values()) if (t.agentId === req.agentId && !TERMINAL.has(t.state)) this.finish(t, 'FAILED', 'agent_shutdown');
    });
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
        purged++;
      }
    }
    return { purged };
  }

  /**
   * An agent's report about its running task (false for any other): COMPLETED / FAILED end it (activity entry removed); YIELDED (after a
   * PREEMPT_REQUEST) puts it back in the queue at its original FIFO position.
   */
  report(agentId: string, taskId: string, status: 'COMPLETED' | 'FAILED' | 'YIELDED', reason?: string): boolean {
    const task = this.tasks.get(this.key(agentId, taskId));
    if (!task || (task.state !== 'RUNNING' && task.state !== 'PREEMPTING')) return false;
    this.clear(`preempt:${this.key(agentId, taskId)}`);
    this.clear(`kill:${this.key(agentId, taskId)}`);
    if (status === 'YIELDED') task.state = 'QUEUED';
    else this.finish(task, status, reason);
    this.dispatch(agentId);
    return true;
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

  /** Clears every timer. */
  close(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  private dispatch(agentId: string): void {
    const mine = [...this.tasks.values()].filter((t) => t.agentId === agentId);
    const running = mine.find((t) => t.state === 'RUNNING' || t.state === 'PREEMPTING');
    const next = mine.filter((t) => t.state === 'QUEUED').sort((a, b) => a.priority - b.priority || a.order - b.order)[0];
    if (!next) return;
    if (running) {
      // preempt only for a strictly higher priority (numerically lower)
      if (running.state === 'RUNNING' && next.priority < running.priority) this.preempt(running, `higher priority task ${next.taskId}`);
      return;
    }
    if (this.agentStates.get(agentId) === AgentState.SHUTTING_DOWN || this.agentStates.get(agentId) === AgentState.FAILED_STATE) return;
    next.state = 'RUNNING';
    this.agentStates.set(agentId, AgentState.RUNNING);
    this.send({ op: 'RUN', agentId, taskId: next.taskId, params: next.params, contentType: next.contentType });
  }

  private preempt(task: Task, reason: string): void {
    const key = this.key(task.agentId, task.taskId);
    task.state = 'PREEMPTING';
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
    this.activity.delete(key);
    this.nonPreemptibleUntil.delete(key);
    if (this.agentStates.get(task.agentId) === AgentState.RUNNING) this.agentStates.set(task.agentId, AgentState.RUNNABLE);
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
