// SPDX-License-Identifier: Apache-2.0
// The task table and leader election on the production Raft KV (simulated network, no faults unless stated).
import { describe, expect, it } from '@jest/globals';
import { LeaderElection } from '../src/leader-election';
import { TaskTable } from '../src/task-table';
import { SimRaftKv } from './sim-raft-kv';

const task = (id: string, priority = 0) => ({ id, kind: 'pick', priority, deadlineMs: 0n, requiredCapabilities: ['grip'], cost: 1, payload: new Uint8Array(0) });

async function value<T>(kv: SimRaftKv, p: Promise<T>): Promise<T> {
  const r = await kv.settle(p, 10_000);
  if (!r.done) throw new Error('did not settle');
  if (r.error !== undefined) throw r.error;
  return r.value as T;
}

describe('TaskTable', () => {
  it('submits once, assigns a pending task once, fences stale epochs, releases and completes', async () => {
    const kv = new SimRaftKv(3, { dropRate: 0, duplicateRate: 0 });
    const table = new TaskTable({ store: kv.client('sched'), clock: kv.net.clock('sched') });
    expect(await value(kv, table.submit(task('t1', 2)))).toBe(true);
    expect(await value(kv, table.submit(task('t1')))).toBe(false);
    expect(await value(kv, table.submit(task('t2')))).toBe(true);
    expect((await value(kv, table.pending())).map((t) => t.id)).toEqual(['t1', 't2']);
    expect(await value(kv, table.assign('t1', 'a', 0n))).toMatchObject({ ok: true, agentId: 'a', epoch: 1n });
    // a retry of the winning call is still ok; anyone else is refused
    expect(await value(kv, table.assign('t1', 'a', 0n))).toMatchObject({ ok: true, agentId: 'a' });
    expect(await value(kv, table.assign('t1', 'b'))).toMatchObject({ ok: false, reason: 'task is assigned', agentId: 'a' });
    expect(await value(kv, table.release('t1', 'b'))).toMatchObject({ ok: false, reason: 'not assigned to this agent' });
    expect(await value(kv, table.release('t1', 'a'))).toMatchObject({ ok: true, epoch: 2n });
    expect(await value(kv, table.assign('t1', 'b', 0n))).toMatchObject({ ok: false, reason: 'stale epoch' });
    expect(await value(kv, table.assign('t1', 'b', 2n))).toMatchObject({ ok: true, agentId: 'b', epoch: 3n });
    expect(await value(kv, table.complete('t1', 'b'))).toMatchObject({ ok: true });
    expect((await value(kv, table.get('t1')))?.state).toBe('done');
    expect(await value(kv, table.assign('unknown', 'a'))).toMatchObject({ ok: false, reason: 'unknown task' });
    expect((await value(kv, table.pending())).map((t) => t.id)).toEqual(['t2']);
  });

  it('refuses a key that does not hold a task record with DECODE_ERROR', async () => {
    const kv = new SimRaftKv(4, { dropRate: 0, duplicateRate: 0 });
    const store = kv.client('sched');
    await value(kv, store.put('tasks/bad', new Uint8Array([0xff, 0xff])));
    const table = new TaskTable({ store });
    await expect(value(kv, table.get('bad'))).rejects.toMatchObject({ code: 'DECODE_ERROR' });
  });
});

describe('LeaderElection', () => {
  it('elects one candidate, fails over when the leader is cut off, and lets a leader resign', async () => {
    const kv = new SimRaftKv(5, { dropRate: 0, duplicateRate: 0 });
    const election = (id: string) => new LeaderElection({ store: kv.client(id, 800), name: 'scheduler', candidate: id, ttlMs: 600, clock: kv.net.clock(id) });
    const a = election('a');
    const b = election('b');
    await value(kv, a.campaign());
    const bCampaign = b.campaign();
    await kv.net.runUntilAsync(kv.net.now + 1_000);
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(await value(kv, b.leader())).toBe('a');
    // a loses the cluster: its lease runs out, b takes over, and a stops believing it leads
    kv.net.partition([['a']]);
    await value(kv, bCampaign);
    expect(b.isLeader()).toBe(true);
    expect(await value(kv, b.leader())).toBe('b');
    await kv.net.runUntilAsync(kv.net.now + 700);
    expect(a.isLeader()).toBe(false);
    kv.net.heal();
    await value(kv, b.resign());
    expect(await value(kv, a.leader())).toBeUndefined();
    await a.close();
    await b.close();
  });
});
