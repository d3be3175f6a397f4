// SPDX-License-Identifier: Apache-2.0
// The task table as a Raft state machine: every submit, assign, complete and release is a committed log entry,
// and an assignment succeeds only for a pending task at the epoch the scheduler saw, so a task is never assigned
// twice, whichever node or scheduler proposes it, across partitions and leader changes.
import { ValidationError } from '@ecps/core';
import { TaskCommand, TaskCommandResult, TaskSnapshotData } from '@ecps/proto/ext/v1';
import type { Task, TaskRecord } from '@ecps/proto/ext/v1';
import type { StateMachine } from '@ecps/raft';

export type TaskState = 'pending' | 'assigned' | 'done' | 'failed';

export interface TaskEntry {
  readonly task: Task;
  readonly state: TaskState;
  readonly agentId: string;
  /** Bumped by every assignment and release: an assign naming an older epoch is stale. */
  readonly epoch: bigint;
  readonly submittedSeq: number;
}

/** A {@link StateMachine} over encoded `TaskCommand`s; replies are encoded `TaskCommandResult`s. */
export class TaskStateMachine implements StateMachine {
  private tasks = new Map<string, TaskEntry>();
  private seq = 0;

  get(taskId: string): TaskEntry | undefined {
    return this.tasks.get(taskId);
  }

  list(): TaskEntry[] {
    return [...this.tasks.values()].sort((a, b) => a.submittedSeq - b.submittedSeq);
  }

  apply(command: Uint8Array): Uint8Array {
    return TaskCommandResult.encode(this.applyCommand(command)).finish();
  }

  applyCommand(command: Uint8Array): TaskCommandResult {
    let cmd: TaskCommand;
    try {
      cmd = TaskCommand.decode(command);
    } catch {
      return { ok: false, reason: 'undecodable command', agentId: '' };
    }
    const op = cmd.op;
    switch (op?.$case) {
      case 'submit': {
        if (this.tasks.has(op.value.id)) return { ok: false, reason: 'duplicate task id', agentId: this.tasks.get(op.value.id)?.agentId ?? '' };
        this.tasks.set(op.value.id, { task: op.value, state: 'pending', agentId: '', epoch: 0n, submittedSeq: this.seq++ });
        return { ok: true, reason: '', agentId: '' };
      }
      case 'assign': {
        const t = this.tasks.get(op.value.taskId);
        if (!t) return { ok: false, reason: 'unknown task', agentId: '' };
        if (t.state !== 'pending') return { ok: false, reason: `task is ${t.state}`, agentId: t.agentId };
        if (op.value.epoch !== t.epoch) return { ok: false, reason: `stale epoch ${op.value.epoch} (now ${t.epoch})`, agentId: t.agentId };
        this.tasks.set(t.task.id, { ...t, state: 'assigned', agentId: op.value.agentId, epoch: t.epoch + 1n });
        return { ok: true, reason: '', agentId: op.value.agentId };
      }
      case 'complete': {
        const t = this.tasks.get(op.value.taskId);
        if (!t || t.state !== 'assigned' || t.agentId !== op.value.agentId) return { ok: false, reason: 'not assigned to this agent', agentId: t?.agentId ?? '' };
        this.tasks.set(t.task.id, { ...t, state: op.value.success ? 'done' : 'failed' });
        return { ok: true, reason: '', agentId: t.agentId };
      }
      case 'release': {
        const t = this.tasks.get(op.value.taskId);
        if (!t || t.state !== 'assigned' || t.agentId !== op.value.agentId) return { ok: false, reason: 'not assigned to this agent', agentId: t?.agentId ?? '' };
        this.tasks.set(t.task.id, { ...t, state: 'pending', agentId: '', epoch: t.epoch + 1n });
        return { ok: true, reason: '', agentId: '' };
      }
      default:
        return { ok: false, reason: 'empty command', agentId: '' };
    }
  }

  snapshot(): Uint8Array {
    const tasks: TaskRecord[] = this.list().map((t) => ({ task: t.task, state: t.state, agentId: t.agentId, epoch: t.epoch }));
    return TaskSnapshotData.encode({ tasks }).finish();
  }

  restore(data: Uint8Array): void {
    let snap: TaskSnapshotData;
    try {
      snap = TaskSnapshotData.decode(data);
    } catch (cause) {
      throw new ValidationError('DECODE_ERROR', 'not a task snapshot', { cause });
    }
    this.tasks = new Map();
    this.seq = 0;
    for (const r of snap.tasks) {
      if (!r.task) continue;
      this.tasks.set(r.task.id, { task: r.task, state: r.state as TaskState, agentId: r.agentId, epoch: r.epoch, submittedSeq: this.seq++ });
    }
  }
}

/** Encoders for the commands a scheduler proposes. */
export const taskCommands = {
  submit: (task: Task) => TaskCommand.encode({ op: { $case: 'submit', value: task } }).finish(),
  assign: (taskId: string, agentId: string, epoch: bigint) => TaskCommand.encode({ op: { $case: 'assign', value: { taskId, agentId, epoch } } }).finish(),
  complete: (taskId: string, agentId: string, success = true) => TaskCommand.encode({ op: { $case: 'complete', value: { taskId, agentId, success } } }).finish(),
  release: (taskId: string, agentId: string) => TaskCommand.encode({ op: { $case: 'release', value: { taskId, agentId } } }).finish(),
};

/** Decodes a state machine reply. */
export function decodeTaskResult(bytes: Uint8Array): TaskCommandResult {
  return TaskCommandResult.decode(bytes);
}
