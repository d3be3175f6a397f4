// SPDX-License-Identifier: Apache-2.0
// Checklist item 16 on the in-memory transport: 2 and 3 nodes converge both ways, members ↔ leader, observers,
// a late joiner, concurrent edits to different fields.
import { afterEach, describe, expect, it } from '@jest/globals';
import { Sim } from './harness';

let sim: Sim | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

describe('checklist 16: sync over the in-memory transport', () => {
  it('2 nodes converge in both directions', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('events', 'e1', { from: 'a', n: 1 });
    expect(await sim.converge('events', 'e1')).toBe(true);
    await b!.replica.put('events', 'e1', { from: 'b', n: 2 });
    expect(await sim.converge('events', 'e1')).toBe(true);
    expect(await a!.replica.get('events', 'e1')).toMatchObject({ from: 'b', n: 2 });
  });

  it('3 nodes converge in both directions, LatestOnly snapshots included', async () => {
    sim = await Sim.create({ nodes: 3 });
    await sim.connect();
    for (const [i, n] of sim.nodes.entries()) await n.replica.put('events', `e${i}`, { by: n.id });
    await n0(sim).replica.put('tracks', 't1', { lat: 1 });
    for (let i = 0; i < 3; i++) expect(await sim.converge('events', `e${i}`)).toBe(true);
    expect(await sim.converge('tracks', 't1')).toBe(true);
    await sim.nodes[2]!.replica.put('tracks', 't1', { lat: 2 });
    expect(await sim.converge('tracks', 't1')).toBe(true);
    expect(await n0(sim).replica.get('tracks', 't1')).toMatchObject({ lat: 2 });
  });

  it('concurrent edits to different fields of one document both survive', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('events', 'doc', { x: 0, y: 0 });
    expect(await sim.converge('events', 'doc')).toBe(true);
    sim.network.partition([[a!.id], [b!.id]]);
    await a!.replica.put('events', 'doc', { x: 1, y: 0 });
    await b!.replica.put('events', 'doc', { x: 0, y: 2 });
    sim.network.heal();
    expect(await sim.converge('events', 'doc')).toBe(true);
    expect(await a!.replica.get('events', 'doc')).toMatchObject({ x: 1, y: 2 });
  });

  it('observers fire for remote changes, with the peer, and writing back from an observer does not loop', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    const seen: string[] = [];
    b!.replica.observe((e) => {
      if (e.origin !== 'remote') return;
      seen.push(`${e.key}<-${e.peer}`);
      // an observer that writes on every remote change must not start an echo loop
      void b!.replica.put('events', 'ack', { seen: seen.length });
    });
    await a!.replica.put('events', 'e1', { v: 1 });
    expect(await sim.converge('events', 'ack')).toBe(true);
    const sentBefore = sim.network.stats.sent;
    await sim.run(() => false, 20_000);
    expect(seen).toContain(`events:e1<-${a!.id}`);
    expect(seen.filter((s) => s.startsWith('events:ack')).length).toBe(0);
    // only heartbeats, announcements and digests flow once converged
    expect(a!.replica.stats.messagesOut).toBeLessThan(10);
    expect(sim.network.stats.sent - sentBefore).toBeLessThan(60);
  });

  it('4 members → leader and leader → members both propagate', async () => {
    sim = await Sim.create({ nodes: 5 });
    await sim.connect();
    const [leader, ...members] = sim.nodes;
    leader!.replica.setTopology({ children: members.map((m) => m.id), cellmates: members.map((m) => m.id) });
    for (const m of members) m.replica.setTopology({ parent: leader!.id, cellmates: sim.nodes.filter((x) => x !== m).map((x) => x.id) });
    for (const m of members) await m.replica.put('node_states', m.id, { health: 1, fuel_minutes: 90 });
    const up = await sim.run(async () => (await leader!.replica.list('node_states')).length === 4);
    expect(up).toBe(true);
    await leader!.replica.put('commands', 'c1', { action: 'regroup' });
    const down = await sim.run(async () => (await Promise.all(members.map((m) => m.replica.get('commands', 'c1')))).every((v) => v?.['action'] === 'regroup'));
    expect(down).toBe(true);
    // Upward: members do not receive each other's node state
    expect(await members[0]!.replica.get('node_states', members[1]!.id)).toBeUndefined();
  });

  it('a late joiner catches up through the digest exchange', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    for (let i = 0; i < 20; i++) await sim.nodes[i % 2]!.replica.put('events', `e${i}`, { i });
    await sim.nodes[0]!.replica.put('tracks', 't', { v: 'latest' });
    await sim.run(() => false, 1_000);
    const late = await sim.add();
    await sim.connect();
    const ok = await sim.run(async () => (await late.replica.list('events')).length === 20 && (await late.replica.get('tracks', 't')) !== undefined);
    expect(ok).toBe(true);
  });
});

function n0(s: Sim) {
  return s.nodes[0]!;
}

describe('partition detector', () => {
  it('declares a silent peer down after 3 failed checks past the 15 s timeout, and brings it back after the heal', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    const downs: number[] = [];
    const start = sim.clock.now();
    a!.transport.onPeerDown(() => downs.push(sim!.clock.now() - start));
    sim.network.partition([[a!.id], [b!.id]]);
    await sim.run(() => downs.length > 0, 60_000);
    // silent for more than 15 s, then three consecutive failed checks 5 s apart
    expect(downs[0]).toBeGreaterThanOrEqual(25_000);
    expect(downs[0]).toBeLessThanOrEqual(35_000);
    expect(a!.replica.peers()).toEqual([]);
    sim.network.heal();
    expect(await sim.run(() => a!.replica.peers().length === 1, 30_000)).toBe(true);
  });
});
