// SPDX-License-Identifier: Apache-2.0
// Task distribution strategies: which task goes next and to which agent. Pure and deterministic (ties break by
// id), so every replica or scheduler computes the same plan from the same inputs.
import { ValidationError } from '@ecps/core';

export type Strategy = 'round-robin' | 'least-loaded' | 'capability-based' | 'priority-first' | 'deadline-first';
export const STRATEGIES: readonly Strategy[] = ['round-robin', 'least-loaded', 'capability-based', 'priority-first', 'deadline-first'];

export interface TaskSpec {
  readonly id: string;
  /** Higher runs first under `priority-first`. */
  readonly priority: number;
  /** Absolute deadline, ms since the epoch; undefined = none. */
  readonly deadlineMs?: number;
  readonly requiredCapabilities: readonly string[];
  /** Load the task adds to its agent. Default 1. */
  readonly cost?: number;
  /** Order of submission (ties and FIFO strategies). */
  readonly submittedSeq: number;
}

export interface AgentInfo {
  readonly id: string;
  readonly capabilities: readonly string[];
  /** Current load (sum of the costs of its tasks). */
  readonly load: number;
  /** Most load it accepts; undefined = unbounded. */
  readonly capacity?: number;
  /** False for agents that stopped heart-beating: they keep their record but get no work. */
  readonly available: boolean;
}

export interface DeadlineBoost {
  /** Boost starts this long before the deadline. Default 60 000 ms. */
  readonly windowMs: number;
  /** Boost reached at the deadline and kept once overdue. Default 10. */
  readonly maxBoost: number;
}

export const DEFAULT_BOOST: DeadlineBoost = { windowMs: 60_000, maxBoost: 10 };

/**
 * Priority plus a deadline boost that grows linearly from 0 (at `windowMs` before the deadline) to `maxBoost`
 * (at the deadline), stays at `maxBoost` once overdue, and is 0 without a deadline. Monotone in urgency, bounded,
 * and computed from the injected `nowMs`, so no task starves behind a stream of higher-priority ones whose
 * deadlines are far away.
 */
export function effectivePriority(task: TaskSpec, nowMs: number, boost: DeadlineBoost = DEFAULT_BOOST): number {
  if (task.deadlineMs === undefined) return task.priority;
  const remaining = task.deadlineMs - nowMs;
  if (remaining >= boost.windowMs) return task.priority;
  if (remaining <= 0) return task.priority + boost.maxBoost;
  return task.priority + boost.maxBoost * (1 - remaining / boost.windowMs);
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The order tasks are considered in under `strategy`. */
export function orderTasks(strategy: Strategy, tasks: readonly TaskSpec[], nowMs: number, boost: DeadlineBoost = DEFAULT_BOOST): TaskSpec[] {
  const fifo = (a: TaskSpec, b: TaskSpec) => a.submittedSeq - b.submittedSeq || byId(a, b);
  const sorted = [...tasks];
  if (strategy === 'priority-first') {
    sorted.sort((a, b) => effectivePriority(b, nowMs, boost) - effectivePriority(a, nowMs, boost) || fifo(a, b));
  } else if (strategy === 'deadline-first') {
    const d = (t: TaskSpec) => t.deadlineMs ?? Infinity;
    sorted.sort((a, b) => (d(a) === d(b) ? 0 : d(a) < d(b) ? -1 : 1) || b.priority - a.priority || fifo(a, b));
  } else {
    sorted.sort(fifo);
  }
  return sorted;
}

function eligible(task: TaskSpec, agent: AgentInfo): boolean {
  if (!agent.available) return false;
  if (!task.requiredCapabilities.every((c) => agent.capabilities.includes(c))) return false;
  return agent.capacity === undefined || agent.load + (task.cost ?? 1) <= agent.capacity;
}

const relLoad = (a: AgentInfo) => (a.capacity ? a.load / a.capacity : a.load);

/**
 * The agent for `task` under `strategy`, or undefined when none is eligible (available, capable, with room).
 * `cursor` is the round-robin position (the id of the agent that got the previous task).
 */
export function chooseAgent(strategy: Strategy, task: TaskSpec, agents: readonly AgentInfo[], cursor = ''): AgentInfo | undefined {
  const candidates = agents.filter((a) => eligible(task, a)).sort(byId);
  if (candidates.length === 0) return undefined;
  switch (strategy) {
    case 'round-robin':
      return candidates.find((a) => a.id > cursor) ?? candidates[0];
    case 'capability-based':
      // the most specialised fit keeps generalists free for tasks only they can do
      return [...candidates].sort((a, b) => a.capabilities.length - b.capabilities.length || relLoad(a) - relLoad(b) || byId(a, b))[0];
    case 'least-loaded':
    case 'priority-first':
    case 'deadline-first':
      return [...candidates].sort((a, b) => relLoad(a) - relLoad(b) || byId(a, b))[0];
    default:
      throw new ValidationError('INVALID_ARGUMENT', `unknown strategy '${String(strategy)}'`);
  }
}

export interface Plan {
  readonly assignments: readonly { readonly taskId: string; readonly agentId: string }[];
  /** Tasks no agent could take now. */
  readonly unassigned: readonly string[];
  /** Round-robin position after the plan. */
  readonly cursor: string;
}

/**
 * Assigns `tasks` (pending ones) to `agents`, updating loads as it goes.
 * @throws ValidationError `INVALID_ARGUMENT` for an unknown strategy.
 */
export function planAssignments(
  strategy: Strategy,
  tasks: readonly TaskSpec[],
  agents: readonly AgentInfo[],
  options: { nowMs: number; cursor?: string; boost?: DeadlineBoost },
): Plan {
  if (!STRATEGIES.includes(strategy)) throw new ValidationError('INVALID_ARGUMENT', `unknown strategy '${String(strategy)}'`);
  const live = new Map(agents.map((a) => [a.id, { ...a }]));
  let cursor = options.cursor ?? '';
  const assignments: { taskId: string; agentId: string }[] = [];
  const unassigned: string[] = [];
  for (const task of orderTasks(strategy, tasks, options.nowMs, options.boost)) {
    const agent = chooseAgent(strategy, task, [...live.values()], cursor);
    if (!agent) {
      unassigned.push(task.id);
      continue;
    }
    assignments.push({ taskId: task.id, agentId: agent.id });
    live.set(agent.id, { ...agent, load: agent.load + (task.cost ?? 1) });
    cursor = agent.id;
  }
  return { assignments, unassigned, cursor };
}

/**
 * Moves to make: tasks of unavailable agents go to eligible ones, and while the most and least loaded eligible
 * agents differ by more than a task's cost, that task moves down. `assigned` maps task id -> agent id.
 */
export function rebalance(
  assigned: ReadonlyMap<string, string>,
  tasks: readonly TaskSpec[],
  agents: readonly AgentInfo[],
): { taskId: string; from: string; to: string }[] {
  const loads = new Map(agents.map((a) => [a.id, { ...a, load: 0 }]));
  const byTask = new Map(tasks.map((t) => [t.id, t]));
  const owner = new Map(assigned);
  for (const [taskId, agentId] of owner) {
    const a = loads.get(agentId);
    if (a) a.load += byTask.get(taskId)?.cost ?? 1;
  }
  const moves: { taskId: string; from: string; to: string }[] = [];
  const move = (task: TaskSpec, from: string, to: AgentInfo) => {
    moves.push({ taskId: task.id, from, to: to.id });
    owner.set(task.id, to.id);
    const f = loads.get(from);
    if (f) f.load -= task.cost ?? 1;
    (loads.get(to.id) as { load: number }).load += task.cost ?? 1;
  };
  // 1. orphans
  for (const [taskId, agentId] of [...owner].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    const holder = loads.get(agentId);
    if (holder?.available) continue;
    const task = byTask.get(taskId);
    if (!task) continue;
    const to = chooseAgent('least-loaded', task, [...loads.values()]);
    if (to) move(task, agentId, to);
  }
  // 2. levelling, bounded so it always terminates
  for (let guard = 0; guard < tasks.length; guard++) {
    const live = [...loads.values()].filter((a) => a.available).sort((a, b) => b.load - a.load || byId(a, b));
    const top = live[0];
    if (!top) break;
    const mine = [...owner].filter(([, a]) => a === top.id).map(([t]) => byTask.get(t)).filter((t): t is TaskSpec => !!t).sort(byId);
    let moved = false;
    for (const task of mine) {
      const to = [...live]
        .reverse()
        .find((a) => a.id !== top.id && a.load + (task.cost ?? 1) < top.load && eligible(task, { ...a, load: a.load }));
      if (to) {
        move(task, top.id, to);
        moved = true;
        break;
      }
    }
    if (!moved) break;
  }
  return moves;
}
