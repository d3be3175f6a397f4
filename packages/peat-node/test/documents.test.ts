// SPDX-License-Identifier: Apache-2.0
// Checklist item 21 on @ecps/peat documents: every node has its own key, replica and authenticated transport;
// the cell's state is in `cells`, `node_configs`, `node_states` and `beacons` documents, synced as signed changes.
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { CapabilityType as T, orSetAdd, orSetRemove } from '@ecps/peat';
import type { CellAssignment } from '@ecps/peat-cell';
import { SecureFleet, cap, labels } from './secure-fleet';

// virtual minutes of several replicas each: generous wall-clock limits for a loaded machine
jest.setTimeout(240_000);

let fleet: SecureFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

describe('checklist 21 on documents: the orchestrator with signed, synced cell state', () => {
  it('T1 → T7: four nodes form one cell through documents; every replica holds the same cell document', async () => {
    const f = (fleet = await SecureFleet.create(4));
    for (const o of f.orchestrators) o.start();
    const ok = await f.until(() => f.orchestrators.every((o) => o.state === 'operational'), 60_000);
    expect(ok).toBe(true);
    const leader = f.sortedIds.at(-1)!;
    for (const o of f.orchestrators) {
      expect(o.cellId).toBe('cell-1');
      expect(o.leader!.node_id).toBe(leader);
      expect(labels(o)).toEqual(['T1', 'T2', 'T3', 'T6', 'T7']);
    }
    await f.run(2_000);
    const docs = await Promise.all(f.nodes.map((n) => n.replica.get('cells', 'cell-1')));
    for (const d of docs) {
      expect(Object.keys(d!.members as object).sort()).toEqual(f.sortedIds);
      expect(d!.status).toEqual({ type: 'Ready' });
      expect((d!.leader as { node_id: string }).node_id).toBe(leader);
      expect(d!.bootstrap_status).toBe('Completed');
    }
    for (const n of f.nodes) expect(n.replica.stats.rejected).toBe(0);
  });

  it('T11: the leader is killed; the others elect the next in a higher round, record it in the cell document and are operational again', async () => {
    const f = (fleet = await SecureFleet.create(4));
    for (const o of f.orchestrators) o.start();
    expect(await f.until(() => f.orchestrators.every((o) => o.state === 'operational'), 60_000)).toBe(true);
    const [next, old] = f.sortedIds.slice(-2) as [string, string];
    const killed = f.byId(old);
    killed.orchestrator.crash();
    await killed.replica.stop();
    const rest = f.nodes.filter((n) => n !== killed);
    const ok = await f.until(() => rest.every((n) => n.orchestrator.state === 'operational' && n.orchestrator.leader?.node_id === next), 40_000);
    expect(ok).toBe(true);
    await f.run(1_000);
    for (const n of rest) {
      expect(labels(n.orchestrator)).toContain('T11');
      expect(n.orchestrator.leader!.round).toBeGreaterThanOrEqual(2);
      const leader = await n.replica.getLeader('cells', 'cell-1');
      expect(leader!.node_id).toBe(next);
    }
    expect(f.byId(next).orchestrator.role).toBe('Leader');
  });

  it('T12 → T13: a member is cut off (the cell drops below three), the network heals, and the cell is operational again', async () => {
    const f = (fleet = await SecureFleet.create(3));
    for (const o of f.orchestrators) o.start();
    expect(await f.until(() => f.orchestrators.every((o) => o.state === 'operational'), 60_000)).toBe(true);
    const [lost, , leaderId] = f.sortedIds as [string, string, string];
    const leader = f.byId(leaderId).orchestrator;
    f.network.partition([[lost], f.sortedIds.slice(1)]);
    expect(await f.until(() => leader.state === 'degraded', 20_000)).toBe(true);
    expect(leader.cellStatus).toEqual({ type: 'Failed', reason: 'Insufficient members' });
    f.network.heal();
    const ok = await f.until(() => f.orchestrators.every((o) => o.state === 'operational') && new Set(f.orchestrators.map((o) => `${o.leader?.node_id}@${o.leader?.round}`)).size === 1, 60_000);
    expect(ok).toBe(true);
    expect(labels(leader)).toEqual(expect.arrayContaining(['T12']));
    expect(f.orchestrators.some((o) => labels(o).includes('T13') || labels(o).includes('T11'))).toBe(true);
  });

  it('T10: a cell that can never be Ready (no sensor anywhere) is tombstoned after the 60 s formation deadline', async () => {
    const f = (fleet = await SecureFleet.create(3, { caps: (_i, id) => [cap(`${id}-r`, T.COMMUNICATION, 0.9)] }));
    for (const o of f.orchestrators) o.start();
    expect(await f.until(() => f.orchestrators.every((o) => o.state === 'forming' && o.cellStatus?.type === 'Failed'), 60_000)).toBe(true);
    expect(f.orchestrators[0]!.cellStatus).toEqual({ type: 'Failed', reason: 'Missing required capabilities' });
    expect(await f.until(() => f.orchestrators.every((o) => labels(o).includes('T10')), 70_000)).toBe(true);
    await f.run(2_000);
    for (const n of f.nodes) expect(n.replica.store.liveTombstone('cells:cell-1')).toBeDefined();
  });

  it('T5: the initiator is cut off after proposing; its bootstrap fails at 60 s and the others give up at the 75 s join deadline', async () => {
    const f = (fleet = await SecureFleet.create(3));
    for (const o of f.orchestrators) o.start();
    const initiator = f.byId(f.sortedIds[0]!);
    const others = f.nodes.filter((n) => n !== initiator);
    // partition as soon as everyone joined, before the members' join entries (sent after the 100 ms cooldown) get out
    expect(await f.until(() => f.orchestrators.every((o) => o.state === 'joining'), 10_000)).toBe(true);
    const proposedAt = f.clock.now();
    f.network.partition([[initiator.id], others.map((n) => n.id)]);
    expect(await f.until(() => labels(initiator.orchestrator).includes('T5'), 70_000)).toBe(true);
    const failedAt = initiator.orchestrator.transitions.find((t) => t.label === 'T5')!.at;
    expect(failedAt - proposedAt).toBeGreaterThanOrEqual(58_000); // bootstrap timeout: one of three joined → Failed
    const doc = await initiator.replica.get<{ members: Record<string, unknown>; bootstrap_status: string }>('cells', 'cell-1');
    expect(doc!.bootstrap_status).toBe('Failed');
    expect(Object.keys(doc!.members)).not.toContain(initiator.id); // the member entry is deleted
    expect(await f.until(() => others.every((n) => labels(n.orchestrator).includes('T5')), 30_000)).toBe(true);
    for (const n of others) expect(n.orchestrator.transitions.find((t) => t.label === 'T5')!.at - proposedAt).toBeGreaterThanOrEqual(74_000);
  });

  it('T2 (a) → T4: C2 assigns a late node to the formed cell; it follows the live leader, gets a role and is operational', async () => {
    const f = (fleet = await SecureFleet.create(3));
    for (const o of f.orchestrators) o.start();
    expect(await f.until(() => f.orchestrators.every((o) => o.state === 'operational'), 60_000)).toBe(true);
    const late = await f.add({ lat: () => 0.02 }); // ≈2 km away: alone in its geohash cell, it cannot form a cell
    late.orchestrator.start();
    expect(await f.until(() => late.replica.peers().length === 3, 20_000)).toBe(true);
    // the cell document arrives with the first digest exchange: a digest that overtakes the handshake Result is held
    // by the transport until the Result arrives, so this takes the cooldown, not an anti-entropy round (5 s)
    expect(await f.until(() => late.replica.store.has('cells:cell-1'), 1_000)).toBe(true);
    await f.run(3_000);
    expect(late.orchestrator.state).toBe('discovering');
    const assignment: CellAssignment = { assignment_id: 'a-1', squad_id: 'cell-1', platform_ids: [late.id], issued_by: 'c2', timestamp: f.clock.now(), priority: 'High', status: { type: 'Pending' } };
    expect(await late.orchestrator.acceptAssignment(assignment, false)).toEqual({ type: 'rejected', reason: { type: 'Unauthorized' } });
    expect(await late.orchestrator.acceptAssignment({ ...assignment, squad_id: 'cell-9' }, true)).toEqual({ type: 'rejected', reason: { type: 'SquadNotFound' } });
    expect(late.orchestrator.state).toBe('discovering');
    expect((await late.orchestrator.acceptAssignment(assignment, true)).type).toBe('accepted');
    expect(await f.until(() => late.orchestrator.state === 'operational', 30_000)).toBe(true);
    expect(labels(late.orchestrator)).toEqual(['T1', 'T2', 'T4', 'T7']);
    expect(late.orchestrator.leader!.node_id).toBe(f.sortedIds.filter((id) => id !== late.id).at(-1));
    expect(await f.until(() => late.orchestrator.role === 'Sensor', 10_000)).toBe(true);
    const doc = await f.byId(late.orchestrator.leader!.node_id).replica.get<{ members: Record<string, { role: string }> }>('cells', 'cell-1');
    expect(doc!.members[late.id]!.role).toBe('Sensor');
  });

  it('a node with another formation secret is never a peer: it hears nothing and is in no cell', async () => {
    const f = (fleet = await SecureFleet.create(4, { secret: (i) => (i === 3 ? Buffer.alloc(32, 9).toString('base64') : Buffer.alloc(32, 7).toString('base64')) }));
    for (const o of f.orchestrators) o.start();
    const intruder = f.nodes[3]!;
    const members = f.nodes.slice(0, 3);
    expect(await f.until(() => members.every((n) => n.orchestrator.state === 'operational'), 60_000)).toBe(true);
    expect(intruder.replica.peers()).toEqual([]);
    expect(intruder.orchestrator.state).toBe('discovering');
    const doc = await members[0]!.replica.get<{ members: Record<string, unknown> }>('cells', members[0]!.orchestrator.cellId!);
    expect(Object.keys(doc!.members)).not.toContain(intruder.id);
    expect(await intruder.replica.get('cells', members[0]!.orchestrator.cellId!)).toBeUndefined();
  });

  it('checklist 10: a concurrent remove and re-add of a cell member converge on every replica, and the re-add wins (OR-set)', async () => {
    const f = (fleet = await SecureFleet.create(3));
    expect(await f.until(() => f.nodes.every((n) => n.replica.peers().length === 2), 20_000)).toBe(true);
    const [a, b, c] = f.nodes as [typeof f.nodes[0], typeof f.nodes[0], typeof f.nodes[0]];
    await a.replica.change('cells', 'cell-x', (d) => {
      orSetAdd(d, 'members', a.id, { joined_at: 1 });
      orSetAdd(d, 'members', c.id, { joined_at: 1 });
    });
    const members = async (n: typeof a) => Object.keys(((await n.replica.get('cells', 'cell-x'))?.members as object | undefined) ?? {}).sort();
    expect(await f.until(() => false, 3_000)).toBe(false);
    expect(await members(b)).toEqual([a.id, c.id].sort());
    f.network.partition([[a.id], [b.id, c.id]]);
    await a.replica.change('cells', 'cell-x', (d) => orSetRemove(d, 'members', c.id)); // a removes c ...
    await c.replica.change('cells', 'cell-x', (d) => orSetAdd(d, 'members', c.id, { joined_at: 2 })); // ... while c re-joins
    await f.run(3_000);
    expect(await members(a)).toEqual([a.id]);
    f.network.heal();
    await f.run(30_000);
    for (const n of f.nodes) expect(await members(n)).toEqual([a.id, c.id].sort());
  });

  it('T12 → T14: a cell that lost a member merges with the other cell; everyone adopts the merged cell, elects one leader and is operational', async () => {
    // two cells of three, ≈2 km apart (two geohash clusters)
    const f = (fleet = await SecureFleet.create(6, { lat: (i) => (i < 3 ? 0 : 0.02) + i * 0.00001 }));
    for (const o of f.orchestrators) o.start();
    expect(await f.until(() => f.orchestrators.every((o) => o.state === 'operational'), 90_000)).toBe(true);
    const [cellA, cellB] = [f.nodes[0]!.orchestrator.cellId!, f.nodes[3]!.orchestrator.cellId!];
    expect(cellA).not.toBe(cellB);
    // a non-leader member of the first cell dies: that cell drops below three
    const victim = f.nodes.slice(0, 3).find((n) => n.orchestrator.leader?.node_id !== n.id)!;
    victim.orchestrator.crash();
    await victim.replica.stop();
    const rest = f.nodes.filter((n) => n !== victim);
    const settled = () =>
      rest.every((n) => n.orchestrator.state === 'operational' && n.orchestrator.cellId !== cellA && n.orchestrator.cellId !== cellB) &&
      new Set(rest.map((n) => `${n.orchestrator.cellId} ${n.orchestrator.leader?.node_id}@${n.orchestrator.leader?.round}`)).size === 1;
    const ok = await f.until(settled, 90_000);
    expect(ok).toBe(true);
    const merged = rest[0]!.orchestrator.cellId!;
    for (const n of rest) {
      expect(n.orchestrator.cellId).toBe(merged);
      expect(labels(n.orchestrator)).toContain('T14');
      expect(n.orchestrator.leader!.node_id).toBe(rest[0]!.orchestrator.leader!.node_id);
    }
    expect(labels(f.nodes.find((n) => n !== victim && n.orchestrator.transitions.some((t) => t.label === 'T12'))!.orchestrator)).toEqual(expect.arrayContaining(['T12', 'T14']));
    await f.run(5_000);
    for (const n of rest) {
      expect(n.replica.store.liveTombstone(`cells:${cellA}`)).toBeDefined();
      expect(n.replica.store.liveTombstone(`cells:${cellB}`)).toBeDefined();
      const doc = await n.replica.get<{ members: Record<string, unknown>; merged_from: string[] }>('cells', merged);
      expect(Object.keys(doc!.members).sort()).toEqual(rest.map((r) => r.id).sort());
      expect([...doc!.merged_from].sort()).toEqual([cellA, cellB].sort());
    }
  });
});
