// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { ManualClock } from '@ecps/core';
import { AgentState, CommunicationClass, createClient, durationFromMs } from '@ecps/sw4rm';
import type { ClientOf, Hosted } from '@ecps/sw4rm';
import { startReasoning } from '@ecps/sw4rm-reasoning';
import { LaneQueue, Scheduler, controlEnvelope, parseControl, parseReport, reportEnvelope, startScheduler } from '../src/index';
import type { ControlCommand, ParallelismChecker, ScopeConflict } from '../src/index';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function setup(extra: Partial<ConstructorParameters<typeof Scheduler>[0]> = {}) {
  const clock = new ManualClock();
  const sent: ControlCommand[] = [];
  const s = new Scheduler({ clock, sendControl: (c) => void sent.push(c), ...extra });
  const ops = () => sent.map((c) => `${c.op}:${c.taskId ?? ''}`);
  return { clock, sent, s, ops };
}
const task = (taskId: string, priority = 0, agentId = 'a') => ({ agentId, taskId, priority, params: new Uint8Array(), contentType: '', scope: '' });

describe('scheduler (spec §3.3)', () => {
  it('validates, orders by priority then FIFO, and dedups by (agent, task)', async () => {
    const { s, ops } = setup();
    expect(await s.submitTask(task('bad', 21))).toEqual({ accepted: false, reason: 'validation_error: priority out of range' });
    expect((await s.submitTask(task('', 0))).accepted).toBe(false);
    await s.submitTask(task('t1', 5));
    await s.submitTask(task('t2', 10));
    await s.submitTask(task('t3', 10));
    await s.submitTask(task('t4', 7));
    expect(await s.submitTask(task('t2', 10))).toEqual({ accepted: false, reason: 'already_in_progress' });
    await flush();
    expect(ops()).toEqual(['RUN:t1']);
    s.report('a', 't1', 'COMPLETED');
    expect(s.report('a', 't2', 'COMPLETED')).toBe(false); // only the running task can be reported
    await flush();
    s.report('a', 't4', 'COMPLETED');
    expect(await s.submitTask(task('t1', 5))).toEqual({ accepted: true, reason: 'duplicate: task already COMPLETED' });
    s.report('a', 't2', 'COMPLETED');
    await flush();
    expect(ops().filter((o) => o.startsWith('RUN'))).toEqual(['RUN:t1', 'RUN:t4', 'RUN:t2', 'RUN:t3']);
  });

  it('preempts cooperatively only for strictly higher priority; a yielded task resumes its FIFO slot', async () => {
    const { s, ops } = setup();
    await s.submitTask(task('low', 5));
    await s.submitTask(task('same', 5));
    await flush();
    expect(ops()).toEqual(['RUN:low']);
    await s.submitTask(task('urgent', -10));
    await flush();
    expect(ops()).toEqual(['RUN:low', 'PREEMPT_REQUEST:low']);
    s.report('a', 'low', 'YIELDED');
    await flush();
    expect(ops().at(-1)).toBe('RUN:urgent');
    s.report('a', 'urgent', 'COMPLETED');
    await flush();
    expect(ops().at(-1)).toBe('RUN:low');
  });

  it('forces TERMINATE then KILL past the bound; the task ends FAILED forced_preemption; non-preemptible sections defer it', async () => {
    const { s, ops, clock } = setup({ preemptTimeoutMs: 1000, terminateGraceMs: 3000 });
    await s.submitTask(task('long', 5));
    s.enterNonPreemptible('a', 'long', 5000);
    await s.submitTask(task('hi', 0));
    await flush();
    clock.advance(4999);
    await flush();
    expect(ops()).toEqual(['RUN:long', 'PREEMPT_REQUEST:long']);
    clock.advance(1);
    await flush();
    expect(ops().at(-1)).toBe('TERMINATE:long');
    clock.advance(3000);
    await flush();
    expect(ops().slice(-2)).toEqual(['KILL:long', 'RUN:hi']);
    expect(s.task('a', 'long')).toMatchObject({ state: 'FAILED', failReason: 'forced_preemption' });
    s.close();
  });

  it('activity entries: created before execution, removed on completion, limits reject, poll and purge', async () => {
    const { s } = setup({ maxActivityPerAgent: 2 });
    await s.submitTask(task('x1'));
    await s.submitTask(task('x2'));
    expect(await s.submitTask(task('x3'))).toEqual({ accepted: false, reason: 'activity_buffer_full' });
    const polled = await s.pollActivityBuffer({ agentId: 'a' });
    expect(polled.entries.map((e) => e.taskId)).toEqual(['x1', 'x2']);
    expect(polled.entries[0]!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    s.report('a', 'x1', 'COMPLETED');
    expect((await s.pollActivityBuffer({ agentId: '' })).entries.map((e) => e.taskId)).toEqual(['x2']);
    expect(await s.purgeActivity({ agentId: 'a', taskIds: ['x2'] })).toEqual({ purged: 1 });
    expect(await s.purgeActivity({ agentId: 'a', taskIds: [] })).toEqual({ purged: 0 });
  });

  it('shutdown: TERMINATE with grace, then KILL and FAILED; unknown agent false; preemption requests', async () => {
    const { s, ops, clock } = setup();
    expect(await s.shutdownAgent({ agentId: 'nobody', gracePeriod: undefined })).toEqual({ ok: false });
    await s.submitTask(task('w'));
    expect(await s.requestPreemption({ agentId: 'a', taskId: 'w', reason: 'ops' })).toEqual({ enqueued: true });
    expect(await s.requestPreemption({ agentId: 'a', taskId: 'nope', reason: '' })).toEqual({ enqueued: false });
    expect(await s.shutdownAgent({ agentId: 'a', gracePeriod: durationFromMs(2000) })).toEqual({ ok: true });
    clock.advance(2000);
    await flush();
    expect(ops()).toContain('KILL:');
    expect(s.agentState('a')).toBe(AgentState.FAILED_STATE);
    s.close();
  });

  it('lanes: weighted round robin 4:2:1, privileged rate limit demotes overflow', () => {
    const clock = new ManualClock();
    const q = new LaneQueue<string>({ clock, privilegedBurst: 5 });
    for (let i = 0; i < 6; i++) q.push(`p${i}`, CommunicationClass.PRIVILEGED);
    for (let i = 0; i < 4; i++) q.push(`s${i}`, CommunicationClass.COMM_CLASS_UNSPECIFIED);
    for (let i = 0; i < 2; i++) q.push(`b${i}`, CommunicationClass.BULK);
    expect(q.demoted).toBe(1);
    const out: string[] = [];
    for (let x = q.shift(); x; x = q.shift()) out.push(x);
    // p5 was demoted: it queues in STANDARD ahead of s0
    expect(out).toEqual(['p0', 'p1', 'p2', 'p3', 'p5', 's0', 'b0', 'p4', 's1', 's2', 'b1', 's3']);
  });

  it('CONTROL envelopes and agent reports round-trip; served over gRPC', async () => {
    const env = controlEnvelope('scheduler', { op: 'RUN', agentId: 'a', taskId: 't', params: new Uint8Array([1]) });
    expect(parseControl(env, 'a')).toMatchObject({ op: 'RUN', taskId: 't', params: new Uint8Array([1]) });
    expect(parseControl(env, 'b')).toBeUndefined();
    expect(parseReport(reportEnvelope('a', 't', 'COMPLETED'))).toEqual({ agentId: 'a', taskId: 't', status: 'COMPLETED' });
    const running = await startScheduler({ port: 0 });
    const client = createClient('scheduler', `127.0.0.1:${running.port}`);
    expect(await client.submitTask({ agentId: 'a', taskId: 't', priority: 0 })).toEqual({ accepted: true, reason: '' });
    expect((await client.pollActivityBuffer({ agentId: 'a' })).entries).toHaveLength(1);
    client.close();
    await running.stop();
  });
});

describe('scheduler durability and refused commands (issue 14)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('a RUN the transport refuses is retried with backoff, then the task FAILS instead of staying RUNNING', async () => {
    const clock = new ManualClock();
    const attempts: string[] = [];
    const s = new Scheduler({
      clock,
      maxRunAttempts: 3,
      sendControl: (c) => {
        attempts.push(`${c.op}:${c.taskId}`);
        if (c.op === 'RUN' && c.taskId === 't1') throw new Error('No recipients available');
      },
    });
    await s.submitTask(task('t1'));
    await flush();
    expect(s.task('a', 't1')).toMatchObject({ state: 'QUEUED', runRefusals: 1 });
    clock.advance(1000);
    await flush();
    clock.advance(2000);
    await flush();
    expect(s.task('a', 't1')).toMatchObject({ state: 'FAILED', failReason: 'control_refused: No recipients available' });
    expect(attempts).toEqual(['RUN:t1', 'RUN:t1', 'RUN:t1']);
    expect((await s.pollActivityBuffer({ agentId: 'a' })).entries).toEqual([]);
    await s.submitTask(task('t2'));
    await flush();
    expect(s.task('a', 't2')).toMatchObject({ state: 'RUNNING' }); // the agent's queue moves on
    s.close();
  });

  it('tasks, activity entries and agent states survive a restart; finished tasks are forgotten after the window', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sched-'));
    dirs.push(dir);
    const clock = new ManualClock();
    let store = await LevelKvStore.open(join(dir, 'state'));
    const sent: string[] = [];
    const s1 = await Scheduler.open({ clock, store, dedupWindowMs: 60_000, sendControl: (c) => void sent.push(`${c.op}:${c.taskId}`) });
    await s1.submitTask(task('done'));
    await s1.submitTask(task('next'));
    await flush();
    s1.report('a', 'done', 'COMPLETED', undefined, '{"ok":true}');
    await flush();
    await s1.idle();
    s1.close();
    await store.close();
    store = await LevelKvStore.open(join(dir, 'state'));
    const s2 = await Scheduler.open({ clock, store, dedupWindowMs: 60_000, sendControl: (c) => void sent.push(`${c.op}:${c.taskId}`) });
    expect(s2.task('a', 'done')).toMatchObject({ state: 'COMPLETED', output: '{"ok":true}' });
    expect(s2.task('a', 'next')).toMatchObject({ state: 'RUNNING' });
    expect(s2.agentState('a')).toBe(AgentState.RUNNING);
    expect((await s2.pollActivityBuffer({ agentId: 'a' })).entries.map((e) => e.taskId)).toEqual(['next']);
    expect(await s2.submitTask(task('done'))).toEqual({ accepted: true, reason: 'duplicate: task already COMPLETED' });
    clock.advance(60_000);
    await s2.submitTask(task('later'));
    expect(s2.task('a', 'done')).toBeUndefined();
    await s2.idle();
    s2.close();
    await store.close();
  });
});

describe('scheduler max_parallel', () => {
  const scoped = (taskId: string, scope: string, priority = 0) => ({ ...task(taskId, priority), scope });
  const runningNow = (s: Scheduler, ids: string[]) => ids.filter((id) => ['RUNNING', 'PREEMPTING'].includes(s.task('a', id)?.state ?? ''));

  it('never runs more than maxParallel tasks of an agent; a finished one frees its slot', async () => {
    const { s, ops } = setup({ maxParallel: (agentId) => (agentId === 'a' ? 2 : 1) });
    const ids = ['t1', 't2', 't3', 't4'];
    for (const id of ids) await s.submitTask(scoped(id, `repo:x src/${id}`));
    await s.submitTask({ ...scoped('b1', 'repo:x src/b1'), agentId: 'b' });
    await s.submitTask({ ...scoped('b2', 'repo:x src/b2'), agentId: 'b' });
    await flush();
    expect(ops()).toEqual(['RUN:t1', 'RUN:t2', 'RUN:b1']);
    expect(runningNow(s, ids)).toEqual(['t1', 't2']);
    expect(s.agentState('a')).toBe(AgentState.RUNNING);
    s.report('a', 't1', 'COMPLETED');
    await flush();
    expect(ops().at(-1)).toBe('RUN:t3');
    expect(runningNow(s, ids)).toEqual(['t2', 't3']);
    s.report('a', 't2', 'COMPLETED');
    expect(s.agentState('a')).toBe(AgentState.RUNNING); // t3 and then t4 still run
    s.report('a', 't3', 'COMPLETED');
    s.report('a', 't4', 'COMPLETED');
    expect(s.agentState('a')).toBe(AgentState.RUNNABLE);
    expect(ops().filter((o) => o.startsWith('RUN:t'))).toEqual(['RUN:t1', 'RUN:t2', 'RUN:t3', 'RUN:t4']);
  });

  it('serialises overlapping (or empty) scopes, and with every slot taken preempts the lowest-priority task', async () => {
    const { s, ops } = setup({ maxParallel: 2 });
    await s.submitTask(scoped('x1', 'repo:x'));
    await s.submitTask(scoped('x2', 'repo:x')); // same scope as x1: waits
    await s.submitTask(scoped('any', '')); // may touch anything: waits
    await s.submitTask(scoped('y1', 'repo:y', 5));
    await flush();
    expect(ops()).toEqual(['RUN:x1', 'RUN:y1']);
    await s.submitTask(scoped('urgent', 'repo:z', -5));
    await flush();
    expect(ops().at(-1)).toBe('PREEMPT_REQUEST:y1'); // the lower-priority of the two running
    s.report('a', 'y1', 'YIELDED');
    await flush();
    expect(ops().at(-1)).toBe('RUN:urgent');
    s.report('a', 'x1', 'COMPLETED');
    s.report('a', 'urgent', 'COMPLETED');
    await flush();
    expect(ops().slice(-2)).toEqual(['RUN:x2', 'RUN:y1']);
  });
});

describe('scheduler asks ReasoningProxy.CheckParallelism (spec §3.3 concurrency)', () => {
  const scoped = (taskId: string, scope: string) => ({ ...task(taskId), scope });
  const runs = (ops: string[]) => ops.filter((o) => o.startsWith('RUN:'));
  let reasoning: Hosted;
  let client: ClientOf<'reasoning'>;
  let asked: string[];
  /** The real client over gRPC, recording what the scheduler asked. */
  const checker = (): ParallelismChecker => ({
    checkParallelism: (req) => {
      asked.push(`${req.scopeA} | ${req.scopeB}`);
      return client.checkParallelism(req);
    },
  });
  /** Waits (≤ 3 s of real time: the answers come over gRPC) until `done()`. */
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    await flush();
  };
  beforeAll(async () => {
    reasoning = await startReasoning({ port: 0 });
    client = createClient('reasoning', `127.0.0.1:${reasoning.port}`, { timeoutMs: 2000 });
  });
  afterAll(async () => {
    client.close();
    await reasoning.stop();
  });
  beforeEach(() => {
    asked = [];
  });

  it('disjoint paths run together; nested paths (different strings, so the local rule would allow them) serialise', async () => {
    const { s, ops } = setup({ maxParallel: 3, reasoning: checker() });
    await s.submitTask(scoped('t1', 'repo:app src/db/**'));
    await s.submitTask(scoped('t2', 'repo:app src/ui/**'));
    await s.submitTask(scoped('t3', 'repo:app src/db/schema.sql'));
    await until(() => runs(ops()).length === 2 && asked.length === 2);
    expect(runs(ops())).toEqual(['RUN:t1', 'RUN:t2']);
    expect(s.task('a', 't3')?.state).toBe('QUEUED');
    expect(asked).toEqual(['repo:app src/ui/** | repo:app src/db/**', 'repo:app src/db/schema.sql | repo:app src/db/**']);
    s.report('a', 't1', 'COMPLETED');
    await until(() => runs(ops()).length === 3);
    expect(runs(ops())).toEqual(['RUN:t1', 'RUN:t2', 'RUN:t3']); // src/db/schema.sql vs src/ui/**: disjoint
    s.close();
  });

  it('below the threshold a conflict resolver (HITL CONFLICT in ecps hub) may still let them overlap; verdicts are cached', async () => {
    const conflicts: ScopeConflict[] = [];
    const { s, ops } = setup({ maxParallel: 2, reasoning: checker(), resolveConflict: async (c) => (conflicts.push(c), true) });
    await s.submitTask(scoped('t1', 'src'));
    await s.submitTask(scoped('t2', 'src/a.ts'));
    await until(() => runs(ops()).length === 2);
    expect(runs(ops())).toEqual(['RUN:t1', 'RUN:t2']);
    expect(conflicts).toEqual([expect.objectContaining({ taskId: 't2', runningTaskId: 't1', confidence: 0, notes: 'overlapping: src/a.ts ~ src' })]);
    s.report('a', 't2', 'COMPLETED');
    await s.submitTask(scoped('t3', 'src/a.ts'));
    await flush();
    expect(runs(ops())).toEqual(['RUN:t1', 'RUN:t2', 'RUN:t3']);
    expect(asked).toHaveLength(1); // the same pair of scopes is not asked twice
    s.close();
  });

  it('ReasoningProxy unreachable: the tasks serialise (conservative) and nothing is lost', async () => {
    const down = await startReasoning({ port: 0 });
    const port = down.port;
    await down.stop();
    const dead = createClient('reasoning', `127.0.0.1:${port}`, { timeoutMs: 500, attempts: 1 });
    const { s, ops } = setup({ maxParallel: 2, reasoning: { checkParallelism: (r) => (asked.push('down'), dead.checkParallelism(r)) } });
    await s.submitTask(scoped('t1', 'src/ui'));
    await s.submitTask(scoped('t2', 'src/db'));
    await until(() => asked.length === 1);
    await new Promise((r) => setTimeout(r, 700)); // the call has failed (refused, or its 500 ms deadline): t2 still waits
    expect(asked).toEqual(['down']);
    expect(runs(ops())).toEqual(['RUN:t1']);
    s.report('a', 't1', 'COMPLETED');
    await flush();
    expect(runs(ops())).toEqual(['RUN:t1', 'RUN:t2']);
    dead.close();
    s.close();
  });
});

describe('scheduler token budgets', () => {
  it('usage reports shrink a task budget; reaching it cancels the task (TERMINATE, KILL) with a typed error', async () => {
    const { s, ops, clock } = setup({ terminateGraceMs: 1000 });
    expect(await s.submitTask(task('bad'), { tokenBudget: -1 })).toEqual({ accepted: false, reason: 'validation_error: token budget must be a positive integer' });
    await s.submitTask(task('t1'), { tokenBudget: 100 });
    await s.submitTask(task('t2'));
    await flush();
    expect(s.reportUsage('a', 't1', 60)).toBe(40);
    expect(() => s.reportUsage('a', 't1', -5)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => s.reportUsage('a', 't2', 1)).toThrow(expect.objectContaining({ code: 'CONFLICT' })); // t2 is not running
    expect(() => s.reportUsage('a', 't1', 40)).toThrow(expect.objectContaining({ code: 'RESOURCE_EXHAUSTED', message: 'budget_exhausted: task a/t1 used 100 of 100 tokens' }));
    await flush();
    expect(ops()).toEqual(['RUN:t1', 'TERMINATE:t1']);
    expect(s.task('a', 't1')).toMatchObject({ state: 'PREEMPTING', tokensUsed: 100 });
    expect(() => s.reportUsage('a', 't1', 1)).toThrow(expect.objectContaining({ code: 'RESOURCE_EXHAUSTED' })); // further work is refused
    clock.advance(1000);
    await flush();
    expect(ops()).toEqual(['RUN:t1', 'TERMINATE:t1', 'KILL:t1', 'RUN:t2']);
    expect(s.task('a', 't1')).toMatchObject({ state: 'FAILED', failReason: 'budget_exhausted' });
    expect(s.reportUsage('a', 't2', 10_000)).toBeUndefined(); // no budget: counted, never cancelled
    s.close();
  });

  it('a task that reports its end within the grace still ends FAILED budget_exhausted; budgets survive a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sched-budget-'));
    try {
      let store = await LevelKvStore.open(join(dir, 'state'));
      const clock = new ManualClock();
      const s1 = await Scheduler.open({ clock, store, sendControl: () => undefined });
      await s1.submitTask(task('t1'), { tokenBudget: 50 });
      await s1.submitTask({ ...task('t2'), agentId: 'b' }, { tokenBudget: 50 });
      await flush();
      s1.reportUsage('a', 't1', 30);
      expect(() => s1.reportUsage('b', 't2', 50)).toThrow(expect.objectContaining({ code: 'RESOURCE_EXHAUSTED' }));
      s1.report('b', 't2', 'COMPLETED');
      expect(s1.task('b', 't2')).toMatchObject({ state: 'FAILED', failReason: 'budget_exhausted' });
      await s1.idle();
      s1.close();
      await store.close();
      store = await LevelKvStore.open(join(dir, 'state'));
      const s2 = await Scheduler.open({ clock, store, sendControl: () => undefined });
      expect(s2.reportUsage('a', 't1', 10)).toBe(10);
      expect(() => s2.reportUsage('a', 't1', 10)).toThrow(expect.objectContaining({ code: 'RESOURCE_EXHAUSTED' }));
      await s2.idle();
      s2.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('report envelopes carry token usage and the handoff it counts against; bad usage is not a report', () => {
    expect(parseReport(reportEnvelope('a', 't', 'RUNNING', '', { tokensUsed: 12, handoffId: 'h1' }))).toEqual({ agentId: 'a', taskId: 't', status: 'RUNNING', tokensUsed: 12, handoffId: 'h1' });
    expect(parseReport(reportEnvelope('a', 't', 'COMPLETED', '', { output: '{}', tokensUsed: 0 }))).toEqual({ agentId: 'a', taskId: 't', status: 'COMPLETED', output: '{}', tokensUsed: 0 });
    expect(parseReport(reportEnvelope('a', 't', 'RUNNING', '', { tokensUsed: -3 }))).toBeUndefined();
    expect(parseReport(reportEnvelope('a', 't', 'RUNNING', '', { tokensUsed: 1.5 }))).toBeUndefined();
  });
});
