// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { chooseAgent, effectivePriority, orderTasks, planAssignments, rebalance } from './strategies';
import type { AgentInfo, TaskSpec } from './strategies';

const task = (id: string, over: Partial<TaskSpec> = {}): TaskSpec => ({ id, priority: 0, requiredCapabilities: [], submittedSeq: Number(id.slice(1)), ...over });
const agent = (id: string, over: Partial<AgentInfo> = {}): AgentInfo => ({ id, capabilities: [], load: 0, available: true, ...over });

describe('strategies', () => {
  const agents = [agent('a'), agent('b'), agent('c')];

  it('round robin cycles through agents in id order from the cursor', () => {
    const plan = planAssignments('round-robin', [task('t1'), task('t2'), task('t3'), task('t4')], agents, { nowMs: 0, cursor: 'a' });
    expect(plan.assignments.map((x) => x.agentId)).toEqual(['b', 'c', 'a', 'b']);
    expect(plan.cursor).toBe('b');
  });

  it('least loaded fills the emptiest agent first, counting costs', () => {
    const plan = planAssignments('least-loaded', [task('t1', { cost: 3 }), task('t2'), task('t3')], [agent('a', { load: 1 }), agent('b', { load: 0 })], { nowMs: 0 });
    // t1 -> b (0 -> 3); t2 -> a (1 -> 2); t3 -> a (2 < 3)
    expect(plan.assignments.map((x) => `${x.taskId}:${x.agentId}`)).toEqual(['t1:b', 't2:a', 't3:a']);
  });

  it('capability based requires every capability and prefers the most specialised agent', () => {
    const pool = [agent('gen', { capabilities: ['grip', 'lift', 'camera'] }), agent('spec', { capabilities: ['grip'] }), agent('cam', { capabilities: ['camera'] })];
    expect(chooseAgent('capability-based', task('t1', { requiredCapabilities: ['grip'] }), pool)?.id).toBe('spec');
    expect(chooseAgent('capability-based', task('t2', { requiredCapabilities: ['grip', 'camera'] }), pool)?.id).toBe('gen');
    expect(chooseAgent('capability-based', task('t3', { requiredCapabilities: ['weld'] }), pool)).toBeUndefined();
  });

  it('never gives work to unavailable agents or beyond capacity', () => {
    const pool = [agent('a', { available: false }), agent('b', { capacity: 2, load: 1 })];
    const plan = planAssignments('least-loaded', [task('t1'), task('t2')], pool, { nowMs: 0 });
    expect(plan.assignments).toEqual([{ taskId: 't1', agentId: 'b' }]);
    expect(plan.unassigned).toEqual(['t2']);
  });

  it('priority first orders by effective priority, deadline boost included', () => {
    const now = 1_000_000;
    const tasks = [task('t1', { priority: 5 }), task('t2', { priority: 1, deadlineMs: now + 6_000 }), task('t3', { priority: 3 })];
    // t2: 1 + 10 * (1 - 6000/60000) = 10
    expect(effectivePriority(tasks[1] as TaskSpec, now)).toBeCloseTo(10, 9);
    expect(orderTasks('priority-first', tasks, now).map((t) => t.id)).toEqual(['t2', 't1', 't3']);
  });

  it('the deadline boost is 0 outside the window, linear inside, capped once overdue, and never negative', () => {
    const t = task('t1', { priority: 2, deadlineMs: 100_000 });
    expect(effectivePriority(t, 0)).toBe(2);
    expect(effectivePriority(t, 40_000)).toBe(2);
    expect(effectivePriority(t, 70_000)).toBeCloseTo(7, 9);
    expect(effectivePriority(t, 100_000)).toBe(12);
    expect(effectivePriority(t, 500_000)).toBe(12);
    expect(effectivePriority(task('t2', { priority: 2 }), 500_000)).toBe(2);
  });

  it('deadline first is earliest deadline first, tasks without a deadline last', () => {
    const tasks = [task('t1'), task('t2', { deadlineMs: 50 }), task('t3', { deadlineMs: 10 }), task('t4', { deadlineMs: 10, priority: 9 })];
    expect(orderTasks('deadline-first', tasks, 0).map((t) => t.id)).toEqual(['t4', 't3', 't2', 't1']);
  });

  it('rejects an unknown strategy', () => {
    expect(() => planAssignments('random' as 'round-robin', [], [], { nowMs: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('rebalance', () => {
  it('moves the tasks of an unavailable agent and levels the load', () => {
    const tasks = ['t1', 't2', 't3', 't4', 't5'].map((id) => task(id));
    const assigned = new Map([['t1', 'a'], ['t2', 'a'], ['t3', 'a'], ['t4', 'a'], ['t5', 'gone']]);
    const moves = rebalance(assigned, tasks, [agent('a'), agent('b'), agent('gone', { available: false })]);
    expect(moves[0]).toEqual({ taskId: 't5', from: 'gone', to: 'b' });
    const final = new Map(assigned);
    for (const m of moves) final.set(m.taskId, m.to);
    const counts = [...final.values()].reduce((m, a) => m.set(a, (m.get(a) ?? 0) + 1), new Map<string, number>());
    expect(counts.get('gone')).toBeUndefined();
    expect(Math.abs((counts.get('a') ?? 0) - (counts.get('b') ?? 0))).toBeLessThanOrEqual(1);
  });
});
