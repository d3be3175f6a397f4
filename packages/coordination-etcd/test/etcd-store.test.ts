// SPDX-License-Identifier: Apache-2.0
// The CoordinationStore contract against a real 3-member etcd cluster: compare-and-set, ranges, leases and their
// expiry, namespaces, typed errors; and the task table and leader election of @ecps/tasks running on it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { LeaderElection, TaskTable } from '@ecps/tasks';
import { freePort, sleep, startEtcdCluster, waitFor } from '@ecps/testkit';
import type { EtcdClusterHandle } from '@ecps/testkit';
import { EtcdCoordinationStore } from '../src/index';
import { newLeader } from './etcd-leader';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function eventually(predicate: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

let etcd: EtcdClusterHandle;
let store: EtcdCoordinationStore;
const opened: EtcdCoordinationStore[] = [];
const open = (namespace?: string) => {
  const s = new EtcdCoordinationStore({ endpoints: etcd.endpoints, timeoutMs: 3_000, ...(namespace ? { namespace } : {}) });
  opened.push(s);
  return s;
};

beforeAll(async () => {
  etcd = await startEtcdCluster(3);
  await newLeader(etcd, -1);
  store = open('contract/');
}, 60_000);

afterAll(async () => {
  for (const s of opened) s.close();
  await etcd?.stop();
});

describe('EtcdCoordinationStore', () => {
  it('compares and sets: absent, exact value, delete', async () => {
    expect((await store.get('a')).value).toBeUndefined();
    expect(await store.compareAndSet('a', undefined, bytes('1'))).toBe(true);
    expect(await store.compareAndSet('a', undefined, bytes('2'))).toBe(false);
    expect(await store.compareAndSet('a', bytes('0'), bytes('2'))).toBe(false);
    expect(await store.compareAndSet('a', bytes('1'), bytes('2'))).toBe(true);
    expect(text((await store.get('a')).value)).toBe('2');
    expect(await store.compareAndSet('a', bytes('2'), undefined)).toBe(true);
    expect((await store.get('a')).value).toBeUndefined();
  });

  it('does not take an absent key for an empty value', async () => {
    // gRPC cannot tell an empty value from none: a missing key must still not match an expected empty value
    expect(await store.compareAndSet('empty', new Uint8Array(0), bytes('x'))).toBe(false);
    expect((await store.get('empty')).value).toBeUndefined();
    expect(await store.compareAndSet('empty', undefined, new Uint8Array(0))).toBe(true);
    expect(await store.compareAndSet('empty', new Uint8Array(0), bytes('x'))).toBe(true);
  });

  it('lists a prefix in key order, bounded by the limit, inside its namespace only', async () => {
    for (const k of ['p/c', 'p/a', 'p/b', 'q/a']) await store.compareAndSet(k, undefined, bytes(k));
    const other = open('other/');
    await other.compareAndSet('p/z', undefined, bytes('elsewhere'));
    expect((await store.list('p/')).map((r) => r.key)).toEqual(['p/a', 'p/b', 'p/c']);
    expect((await store.list('p/', 2)).map((r) => text(r.value))).toEqual(['p/a', 'p/b']);
    expect((await other.list('p/')).map((r) => r.key)).toEqual(['p/z']);
    const small = new EtcdCoordinationStore({ endpoints: etcd.endpoints, namespace: 'contract/', maxList: 1 });
    opened.push(small);
    expect(await small.list('p/')).toHaveLength(1);
  });

  it('keeps a lease alive, deletes its keys on revoke, and refuses writes on a dead lease', async () => {
    const lease = await store.grantLease(5_000);
    expect(await store.compareAndSet('leased', undefined, bytes('v'), { lease })).toBe(true);
    expect(await store.keepAlive(lease)).toBe(true);
    await store.revokeLease(lease);
    expect((await store.get('leased')).value).toBeUndefined();
    expect(await store.keepAlive(lease)).toBe(false);
    await expect(store.revokeLease(lease)).resolves.toBeUndefined();
    const refused = await store.compareAndSet('leased', undefined, bytes('v'), { lease }).catch((e: unknown) => e);
    expect(isEcpsError(refused, 'NOT_FOUND')).toBe(true);
    await expect(store.grantLease(0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('deletes the keys of a lease that nobody renews', async () => {
    const lease = await store.grantLease(1_000); // etcd raises it to its minimum (2 s by default)
    await store.compareAndSet('expiring', undefined, bytes('v'), { lease });
    await eventually(async () => (await store.get('expiring')).value === undefined, 'the lease to expire', 10_000);
    expect(await store.keepAlive(lease)).toBe(false);
  }, 15_000);

  it('answers TIMEOUT when no member answers, and CLOSED once closed', async () => {
    const nobody = new EtcdCoordinationStore({ endpoints: [`http://127.0.0.1:${await freePort()}`], timeoutMs: 300 });
    const error = await nobody.get('a').catch((e: unknown) => e);
    expect(isEcpsError(error, 'TIMEOUT')).toBe(true);
    nobody.close();
    await expect(nobody.get('a')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(() => new EtcdCoordinationStore({ endpoints: [] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('runs the task table: one assignment per epoch, release, complete', async () => {
    const table = new TaskTable({ store: open('tasks-contract/') });
    const task = { id: 't1', kind: 'pick', priority: 1, deadlineMs: 0n, requiredCapabilities: [], cost: 1, payload: new Uint8Array(0) };
    expect(await table.submit(task)).toBe(true);
    expect(await table.submit(task)).toBe(false);
    expect(await table.assign('t1', 'a1', 0n)).toMatchObject({ ok: true, agentId: 'a1', epoch: 1n });
    expect(await table.assign('t1', 'a2')).toMatchObject({ ok: false, reason: 'task is assigned', agentId: 'a1' });
    expect(await table.release('t1', 'a1')).toMatchObject({ ok: true, epoch: 2n });
    expect(await table.assign('t1', 'a2', 1n)).toMatchObject({ ok: false, reason: 'stale epoch' });
    expect(await table.assign('t1', 'a2', 2n)).toMatchObject({ ok: true, agentId: 'a2', epoch: 3n });
    expect(await table.complete('t1', 'a2')).toMatchObject({ ok: true });
    expect((await table.get('t1'))?.state).toBe('done');
  });

  it('elects one leader and fails over when the leader resigns or stops renewing', async () => {
    const ns = 'election-contract/';
    const first = new LeaderElection({ store: open(ns), name: 'scheduler', candidate: 'c1', ttlMs: 1_000 });
    await first.campaign();
    const silent = open(ns);
    const second = new LeaderElection({ store: silent, name: 'scheduler', candidate: 'c2', ttlMs: 1_000 });
    let secondLeads = false;
    const campaigning = second.campaign().then(() => (secondLeads = true));
    await sleep(700);
    expect(secondLeads).toBe(false);
    expect(await first.leader()).toBe('c1');
    await first.close(); // revokes: the key goes at once
    await campaigning;
    expect(await first.leader()).toBe('c2');
    // c2's process stops talking to etcd: its lease expires and c3 takes over
    const third = new LeaderElection({ store: open(ns), name: 'scheduler', candidate: 'c3', ttlMs: 1_000 });
    silent.close();
    await third.campaign();
    expect(await third.leader()).toBe('c3');
    await waitFor(() => !second.isLeader(), 'c2 to stop believing it leads', 5_000);
    await second.close();
    await third.close();
  }, 30_000);
});
