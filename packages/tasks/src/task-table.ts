// SPDX-License-Identifier: Apache-2.0
// The task table on a coordination store: one key per task holding its `TaskRecord`, changed only by
// compare-and-set on the exact bytes read. Two schedulers racing for a task (or one retrying after a timeout, on
// either side of a partition, across leader changes) can never both assign it.
import { EcpsError, ValidationError, systemClock } from '@ecps/core';
import type { Clock } from '@ecps/core';
import { TaskRecord } from '@ecps/proto/ext/v1';
import type { Task } from '@ecps/proto/ext/v1';
import type { CoordinationStore } from './coordination-store';
import type { TaskSpec } from './strategies';

export type TaskState = 'pending' | 'assigned' | 'done' | 'failed';

export interface TaskEntry {
  readonly task: Task;
  readonly state: TaskState;
  readonly agentId: string;
  /** Bumped by every assignment and release: an assignment for an older epoch is stale. */
  readonly epoch: bigint;
  readonly submittedAtMs: number;
}

/** The outcome of a change: refused changes are results, not errors. */
export interface TaskChange {
  readonly ok: boolean;
  /** Why not, when `ok` is false: `unknown task`, `task is <state>`, `stale epoch`, `not assigned to this agent`. */
  readonly reason: string;
  /** Who holds the task now ('' when nobody). */
  readonly agentId: string;
  readonly epoch: bigint;
}

export interface TaskTableOptions {
  readonly store: CoordinationStore;
  /** Key prefix of the table. Default `tasks/`. */
  readonly prefix?: string;
  /** Stamps submissions (their order for FIFO strategies). */
  readonly clock?: Clock;
}

const STATES: readonly TaskState[] = ['pending', 'assigned', 'done', 'failed'];
/** Re-reads after a lost compare-and-set race before giving up (another scheduler keeps changing the task). */
const MAX_RACES = 8;

function decode(bytes: Uint8Array): TaskEntry {
  let r: TaskRecord;
  try {
    r = TaskRecord.decode(bytes);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', 'a task key does not hold a TaskRecord', { cause });
  }
  if (!r.task || !STATES.includes(r.state as TaskState)) throw new ValidationError('DECODE_ERROR', `task record in state '${r.state}'`);
  return { task: r.task, state: r.state as TaskState, agentId: r.agentId, epoch: r.epoch, submittedAtMs: Number(r.submittedAtMs) };
}

function encode(e: TaskEntry): Uint8Array {
  return TaskRecord.encode({ task: e.task, state: e.state, agentId: e.agentId, epoch: e.epoch, submittedAtMs: BigInt(e.submittedAtMs) }).finish();
}

/**
 * The replicated task table. Every change reads the task's record and writes the new one with compare-and-set on
 * the bytes it read, so it applies only to the state it was decided on.
 *
 * Guarantee: a task is assigned to at most one agent per epoch, and an `assign` that resolves `ok` is the only
 * assignment of that epoch, whatever the schedulers, retries, partitions and leader changes. `ok` with the same agent
 * is also returned to a retry of an assignment that already won.
 */
export class TaskTable {
  private readonly prefix: string;
  private readonly clock: Clock;

  constructor(private readonly options: TaskTableOptions) {
    this.prefix = options.prefix ?? 'tasks/';
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Adds a pending task. Resolves false when a task with that id exists.
   * @throws EcpsError `INVALID_ARGUMENT` for an empty id; the store's errors (`TIMEOUT`: unknown outcome).
   */
  async submit(task: Task): Promise<boolean> {
    if (task.id === '') throw new EcpsError('INVALID_ARGUMENT', 'a task needs an id');
    const entry: TaskEntry = { task, state: 'pending', agentId: '', epoch: 0n, submittedAtMs: Math.floor(this.clock.now()) };
    return this.options.store.compareAndSet(this.key(task.id), undefined, encode(entry));
  }

  /** A linearizable read of one task. @throws ValidationError `DECODE_ERROR` for a key not written by a TaskTable. */
  async get(taskId: string): Promise<TaskEntry | undefined> {
    const { value } = await this.options.store.get(this.key(taskId));
    return value === undefined ? undefined : decode(value);
  }

  /** Every task, oldest submission first. */
  async list(): Promise<TaskEntry[]> {
    const rows = await this.options.store.list(this.prefix);
    return rows.map((r) => decode(r.value)).sort((a, b) => a.submittedAtMs - b.submittedAtMs || (a.task.id < b.task.id ? -1 : 1));
  }

  /** The pending tasks as the strategies take them (`planAssignments`). */
  async pending(): Promise<TaskSpec[]> {
    return (await this.list())
      .filter((e) => e.state === 'pending')
      .map((e, i) => ({
        id: e.task.id,
        priority: e.task.priority,
        ...(e.task.deadlineMs > 0n ? { deadlineMs: Number(e.task.deadlineMs) } : {}),
        requiredCapabilities: e.task.requiredCapabilities,
        cost: e.task.cost,
        submittedSeq: i,
      }));
  }

  /**
   * Assigns a pending task to `agentId`, if its epoch is still `epoch` (when given: what the scheduler planned on).
   * Resolves `ok` when this assignment holds.
   */
  assign(taskId: string, agentId: string, epoch?: bigint): Promise<TaskChange> {
    return this.change(taskId, (t) => {
      // our own earlier attempt won (a retry after a lost answer)
      if (t.state === 'assigned' && t.agentId === agentId && (epoch === undefined || t.epoch === epoch + 1n)) return 'done';
      if (t.state !== 'pending') return `task is ${t.state}`;
      if (epoch !== undefined && t.epoch !== epoch) return 'stale epoch';
      return { ...t, state: 'assigned', agentId, epoch: t.epoch + 1n };
    });
  }

  /** Marks a task of `agentId` done (or failed). */
  complete(taskId: string, agentId: string, success = true): Promise<TaskChange> {
    return this.change(taskId, (t) => {
      if ((t.state === 'done' || t.state === 'failed') && t.agentId === agentId) return 'done';
      if (t.state !== 'assigned' || t.agentId !== agentId) return 'not assigned to this agent';
      return { ...t, state: success ? 'done' : 'failed' };
    });
  }

  /** Gives a task of `agentId` back to the pending pool (a new epoch). */
  release(taskId: string, agentId: string): Promise<TaskChange> {
    return this.change(taskId, (t) => {
      if (t.state !== 'assigned' || t.agentId !== agentId) return 'not assigned to this agent';
      return { ...t, state: 'pending', agentId: '', epoch: t.epoch + 1n };
    });
  }

  /** Read, decide, compare-and-set on the bytes read; on a lost race read again. */
  private async change(taskId: string, decide: (t: TaskEntry) => TaskEntry | string): Promise<TaskChange> {
    const key = this.key(taskId);
    for (let race = 0; race < MAX_RACES; race++) {
      const { value } = await this.options.store.get(key);
      if (value === undefined) return { ok: false, reason: 'unknown task', agentId: '', epoch: 0n };
      const current = decode(value);
      const next = decide(current);
      if (next === 'done') return { ok: true, reason: '', agentId: current.agentId, epoch: current.epoch };
      if (typeof next === 'string') return { ok: false, reason: next, agentId: current.agentId, epoch: current.epoch };
      if (await this.options.store.compareAndSet(key, value, encode(next))) return { ok: true, reason: '', agentId: next.agentId, epoch: next.epoch };
    }
    throw new EcpsError('CONFLICT', `task ${taskId} kept changing under ${MAX_RACES} attempts`);
  }

  private key(taskId: string): string {
    return `${this.prefix}${taskId}`;
  }
}
