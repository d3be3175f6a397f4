// SPDX-License-Identifier: Apache-2.0
// Each fault of the simulator does what it says, shown on the production stack: an isolated leader steps down, a
// minority commits nothing, a one-way cut starves one follower, a crash loses unsynced bytes, a paused leader is
// deposed and serves nothing stale when it wakes, and lease reads go stale exactly when clocks drift beyond the
// bound the nodes were told.
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { SimCluster } from './sim-cluster';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function cluster(options: Partial<ConstructorParameters<typeof SimCluster>[0]> = {}): Promise<SimCluster> {
  const c = new SimCluster({ seed: 7, dropRate: 0, duplicateRate: 0, ...options });
  c.startAll();
  expect(await c.runUntil(() => c.leader() !== undefined)).toBe(true);
  return c;
}

describe('simulated faults have an effect', () => {
  it('an isolated leader steps down and the majority elects another one', async () => {
    const c = await cluster();
    const old = c.leader()!;
    const term = old.node.status().term;
    c.net.isolate(old.node.id);
    expect(await c.runUntil(() => !old.node.isLeader() && c.leader() !== undefined && c.leader() !== old, 3_000)).toBe(true);
    expect(c.leader()!.node.status().term).toBeGreaterThan(term);
    expect(c.net.stats.blocked).toBeGreaterThan(0);
  });

  it('a minority side commits nothing while the majority carries on', async () => {
    const c = await cluster();
    const writer = c.client('c1');
    expect((await c.settle(writer.put('before', enc('1')))).done).toBe(true);
    const old = c.leader()!;
    const minorityClient = c.client('c2', 1_000);
    c.net.partition([[old.node.id, 'c2'], c.ids.filter((id) => id !== old.node.id).concat('c1')]);
    const commitBefore = old.node.status().commit;
    const minority = await c.settle(minorityClient.put('minority', enc('x')), 3_000);
    expect(minority.done).toBe(true);
    expect(isEcpsError(minority.error, 'TIMEOUT')).toBe(true);
    expect(old.node.status().commit).toBe(commitBefore);
    expect(old.store.read('minority')).toBeUndefined();
    const majority = await c.settle(writer.put('majority', enc('y')), 3_000);
    expect(majority.error).toBeUndefined();
    expect(dec(c.leader()!.store.read('majority'))).toBe('y');
  });

  it('a one-way cut from the leader starves one follower while the others commit', async () => {
    const c = await cluster();
    const leader = c.leader()!;
    const starved = c.ids.find((id) => id !== leader.node.id)!;
    c.net.cutOneWay(leader.node.id, starved);
    const writer = c.client('c1');
    for (let i = 0; i < 10; i++) expect((await c.settle(writer.put(`k${i}`, enc('v')))).error).toBeUndefined();
    const applied = (id: string) => c.members.get(id)!.node.status().applied;
    expect(applied(starved)).toBeLessThan(applied(leader.node.id));
    c.net.heal();
    expect(await c.runUntil(() => applied(starved) >= applied(c.leader()!.node.id))).toBe(true);
  });

  it('a crash loses the bytes that were not synced; the node restarts from what was', async () => {
    const c = await cluster({ syncLatencyMs: 5 });
    const writer = c.client('c1');
    const follower = c.ids.find((id) => id !== c.leader()!.node.id)!;
    const writes = Array.from({ length: 40 }, (_, i) => writer.put(`k${i}`, enc(`v${i}`)));
    await c.runUntil(() => (c.members.get(follower)?.node.status().applied ?? 0) > 10);
    c.crash(follower);
    const disk = c.disks.get(follower)!;
    expect(disk.stats.crashes).toBe(1);
    expect(disk.stats.lostBytes).toBeGreaterThan(0);
    c.restart(follower);
    await c.settle(Promise.all(writes), 5_000);
    const leader = c.leader()!;
    expect(await c.runUntil(() => (c.members.get(follower)?.node.status().applied ?? 0) >= leader.node.status().applied)).toBe(true);
    expect(dec(c.members.get(follower)!.store.read('k39'))).toBe('v39');
  });

  it('a paused leader is deposed, and when it wakes it steps down before answering the read queued meanwhile', async () => {
    const c = await cluster({ readOnly: 'lease' });
    const writer = c.client('c1');
    // one long attempt: the read waits at the old leader across its pause
    const reader = c.client('c2', 3_000, 3_000);
    expect((await c.settle(writer.put('k', enc('old')))).error).toBeUndefined();
    expect((await c.settle(reader.get('k'))).error).toBeUndefined();
    const old = c.leader()!;
    c.net.pause(old.node.id, 600);
    c.net.partition([[old.node.id, 'c2']]);
    const read = reader.get('k');
    expect(await c.runUntil(() => c.leader() !== undefined && c.leader() !== old, 2_000)).toBe(true);
    expect((await c.settle(writer.put('k', enc('new')))).error).toBeUndefined();
    const outcome = await c.settle(read, 3_000);
    expect(outcome.done).toBe(true);
    expect(dec(outcome.value?.value)).not.toBe('old');
    expect(old.node.isLeader()).toBe(false);
  });

  /** Leader cut off with one reader; the other side elects a leader and overwrites the key; then the reader reads. */
  async function staleLeaseRead(rates: { leader: number; others: number }, maxClockDrift: number): Promise<string | undefined> {
    const c = await cluster({ readOnly: 'lease', maxClockDrift, clockSpread: 0 });
    const writer = c.client('c1');
    const reader = c.client('c2', 600);
    expect((await c.settle(writer.put('k', enc('old')))).error).toBeUndefined();
    expect((await c.settle(reader.get('k'))).error).toBeUndefined(); // the reader knows the leader
    const old = c.leader()!;
    for (const id of c.ids) c.net.setClock(id, { rate: id === old.node.id ? rates.leader : rates.others });
    await c.runUntil(() => false, 30); // a heartbeat round renews the lease
    c.net.partition([[old.node.id, 'c2']]);
    expect((await c.settle(writer.put('k', enc('new')), 3_000)).error).toBeUndefined();
    const read = await c.settle(reader.get('k'), 1_000);
    return read.error === undefined ? dec(read.value?.value) : undefined;
  }

  it('lease reads stay fresh while clocks drift within the bound the nodes assume', async () => {
    expect(await staleLeaseRead({ leader: 0.96, others: 1.04 }, 0.05)).not.toBe('old');
  });

  it('lease reads go stale when clocks drift beyond that bound (the fault has an effect)', async () => {
    expect(await staleLeaseRead({ leader: 0.2, others: 1.5 }, 0)).toBe('old');
  });
});
