// SPDX-License-Identifier: Apache-2.0
// The node drives phase 3 and deployments by itself: eight authenticated nodes on one virtual clock form two
// cells, their leaders summarise to a platoon (as deltas on the wire, a lost delta recovered by a snapshot),
// commands go down and events up, and a deployment directive rolls back on every node that activated it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseDirective } from '@ecps/peat-deploy';
import type { DeploymentDirective } from '@ecps/peat-deploy';
import type { PlatoonSummary, SquadSummary } from '@ecps/peat-hierarchy';
import type { NodeMessage } from '../src/index';
import { HierarchyFleet } from './hierarchy-fleet';
import type { FleetMember } from './hierarchy-fleet';

const V1 = Buffer.from('detector.threshold = 0.5\n');
const V2 = Buffer.from('detector.threshold = 0.3\n');
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobs = new Map([
  [sha(V1), V1],
  [sha(V2), V2],
]);
/** Node 2 fetches from /bad/: its copy of v2 has one byte flipped (v1 is intact), held until the test releases it. */
const BAD_NODE = 2;
const held: (() => void)[] = [];
const server = createServer((req, res) => {
  const [, mode, hash] = (req.url ?? '').split('/');
  const blob = blobs.get(decodeURIComponent(hash ?? ''));
  if (!blob) return void res.writeHead(404).end();
  if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': blob.length }).end();
  const corrupt = mode === 'bad' && blob === V2;
  const body = corrupt ? Buffer.from(blob) : blob;
  if (corrupt) body[0]! ^= 0xff;
  const answer = () => void res.writeHead(200, { 'content-length': body.length }).end(body);
  if (corrupt) held.push(answer);
  else answer();
});

let fleet: HierarchyFleet;
let cells: Map<string, FleetMember[]>;
let zoneLeader: FleetMember;
/** The cell whose leader is not the zone leader (its summaries travel on the wire to the zone leader). */
let remote: { cellId: string; leader: FleetMember; members: FleetMember[] };

const leaderOf = (m: FleetMember) => m.orchestrator.leader?.node_id;
const squadSent = (m: FleetMember) => m.medium.sent.filter((s): s is { message: Extract<NodeMessage, { kind: 'summary' }>; bytes: number } => s.message.kind === 'summary' && s.message.level === 'squad');

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fleet = await HierarchyFleet.create(8, { sensors: new Set([0, 1, 2, 4, 6]), mirror: (i) => `${base}/${i === BAD_NODE ? 'bad' : 'good'}` });
  for (const n of fleet.nodes) n.orchestrator.start();
  const formed = await fleet.until(() => fleet.nodes.some((n) => n.orchestrator.hierarchy.platoonSummary?.squad_count === 2), 90_000);
  if (!formed) throw new Error(`no platoon formed: ${fleet.nodes.map((n) => `${n.index}:${n.orchestrator.state}/${n.orchestrator.cellId}`).join(' ')}`);
  cells = new Map();
  for (const n of fleet.nodes) cells.set(n.orchestrator.cellId!, [...(cells.get(n.orchestrator.cellId!) ?? []), n]);
  zoneLeader = fleet.nodes.find((n) => n.orchestrator.hierarchy.echelon() === 2)!;
  const [cellId, members] = [...cells].find(([, ms]) => !ms.includes(zoneLeader))!;
  remote = { cellId, members, leader: fleet.byId(leaderOf(members[0]!)!) };
}, 180_000);

afterAll(async () => {
  await fleet?.stop();
  for (const answer of held) answer();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('the node drives the hierarchy', () => {
  it('two cells form and elect leaders; the leaders summarise to a platoon whose leader sees the composed capability', () => {
    expect([...cells.keys()].sort()).toEqual(['cell-A', 'cell-B']);
    for (const [, members] of cells) {
      expect(members).toHaveLength(4);
      expect(new Set(members.map(leaderOf)).size).toBe(1);
      for (const m of members) expect(m.orchestrator.state).toBe('operational');
    }
    // exactly one zone leader, and it is one of the two cell leaders
    expect(fleet.nodes.filter((n) => n.orchestrator.hierarchy.echelon() === 2)).toEqual([zoneLeader]);
    const platoon = zoneLeader.orchestrator.hierarchy.platoonSummary as PlatoonSummary;
    expect(platoon.platoon_id).toBe('platoon-1');
    expect(platoon.squad_ids).toEqual(['cell-A', 'cell-B']);
    expect(platoon.total_member_count).toBe(8);
    expect(platoon.leader_id).toBe(zoneLeader.id);
    // the ISR chain each cell composed from its sensors, compute and radios, as the platoon leader holds it
    const isr = platoon.aggregated_capabilities.filter((c) => c.metadata['pattern'] === 'isr_chain');
    expect(isr).toHaveLength(2);
    for (const c of isr) expect(c.confidence).toBeGreaterThan(0.8);
    // the routing table the zone leader learnt from the summaries
    expect(zoneLeader.orchestrator.hierarchy.routing.allows(remote.leader.id, 'zone:platoon-1')).toBe(true);
    expect(zoneLeader.orchestrator.hierarchy.routing.allows(remote.members.find((m) => m !== remote.leader)!.id, 'zone:platoon-1')).toBe(false);
  });
});

describe('summaries travel as deltas', () => {
  it('a change goes up as a delta of only the changed fields; a dropped delta is recovered by a snapshot', async () => {
    const member = remote.members.find((m) => m !== remote.leader)!;
    const held = () => zoneLeader.orchestrator.hierarchy.squads.get(remote.cellId) as SquadSummary;
    const before = squadSent(remote.leader).length;
    const fuel0 = held().avg_fuel_minutes;
    member.orchestrator.setFuel(60); // 120 → 60 on one of four: the mean drops by 15
    expect(await fleet.until(() => held().avg_fuel_minutes === fuel0 - 15, 10_000)).toBe(true);
    const change = squadSent(remote.leader).slice(before).find((s) => s.message.delta.updates.some((u) => u.op === 'SetAvgFuelMinutes'))!;
    expect(change.message.delta.updates.map((u) => u.op).sort()).toEqual(['SetAvgFuelMinutes', 'UpdateAggregatedAt']);
    const full = squadSent(remote.leader).find((s) => s.message.delta.sequence === 1)!;
    expect(change.bytes * 3).toBeLessThan(full.bytes);

    const gaps = zoneLeader.orchestrator.hierarchy.squads.stats.gaps;
    const snapshots = zoneLeader.orchestrator.hierarchy.squads.stats.snapshots;
    remote.leader.medium.dropNext((m) => m.kind === 'summary' && m.delta.updates.some((u) => u.op === 'SetAvgFuelMinutes'));
    member.orchestrator.setFuel(20); // the mean drops by another 10; that delta is lost
    expect(await fleet.until(() => remote.leader.medium.dropped.length === 1, 10_000)).toBe(true);
    expect(held().avg_fuel_minutes).toBe(fuel0 - 15);
    // the next delta (the keepalive) shows the gap; the zone leader asks for and applies a snapshot
    expect(await fleet.until(() => held().avg_fuel_minutes === fuel0 - 25, 10_000)).toBe(true);
    expect(zoneLeader.orchestrator.hierarchy.squads.stats.gaps).toBeGreaterThan(gaps);
    expect(zoneLeader.orchestrator.hierarchy.squads.stats.snapshots).toBeGreaterThan(snapshots);
    expect(remote.leader.medium.sent.some((s) => s.message.kind === 'snapshot')).toBe(true);
  }, 180_000);
});

describe('commands go down, events go up', () => {
  it('a command from the platoon leader reaches every node; events from a member reach the top, critical first', async () => {
    zoneLeader.orchestrator.command({
      command_id: 'move-1',
      originator_id: zoneLeader.id,
      target: { scope: 'BROADCAST', target_ids: [] },
      command_type: 'MissionOrder',
      priority: 'IMMEDIATE',
      issued_at: fleet.clock.now(),
      payload: { waypoint: [34.01, -117.0] },
    });
    expect(await fleet.until(() => fleet.nodes.every((n) => n.commands.some((c) => c.command_id === 'move-1')), 10_000)).toBe(true);
    for (const n of fleet.nodes) expect(n.commands.filter((c) => c.command_id === 'move-1')).toHaveLength(1);
    // a member of the other cell: its events go member → its cell leader → the zone leader
    const member = remote.members.find((m) => m !== remote.leader)!;
    const ev = (event_type: string, priority: 'CRITICAL' | 'LOW' | 'NORMAL', mode: 'Full' | 'Summary') => ({ event_type, source: member.id, priority, mode, timestamp: fleet.clock.now(), payload: {} });
    member.orchestrator.hierarchy.raise(ev('battery_low', 'LOW', 'Full'));
    member.orchestrator.hierarchy.raise(ev('contact', 'CRITICAL', 'Full'));
    member.orchestrator.hierarchy.raise(ev('detection', 'NORMAL', 'Summary'));
    member.orchestrator.hierarchy.raise(ev('detection', 'NORMAL', 'Summary'));
    expect(await fleet.until(() => zoneLeader.events.length >= 3, 10_000)).toBe(true);
    expect(zoneLeader.events.map((e) => e.event_type).sort()).toEqual(['battery_low', 'contact', 'detection']);
    // raised LOW first, the CRITICAL one left the member first (same flow round: critical preempts)
    const up = member.medium.sent.flatMap((s) => (s.message.kind === 'up' && s.message.item.type === 'event' ? [s.message.item.event.event_type] : []));
    expect(up).toEqual(['contact', 'battery_low']);
    expect(zoneLeader.events.find((e) => e.event_type === 'detection')).toMatchObject({ count: 2, sources: [member.id] });
    for (const n of fleet.nodes) if (n !== zoneLeader) expect(n.events).toEqual([]);
  }, 180_000);
});

describe('deployment directives', () => {
  const directive = (id: string, blob: Buffer, options: Record<string, unknown>): DeploymentDirective =>
    parseDirective({
      directive_id: id,
      issued_at: new Date(fleet.clock.now()).toISOString(),
      issuer_node_id: zoneLeader.id,
      issuer_formation_id: 'platoon-1',
      // formation membership (cell-A) and a capability filter (a SENSOR)
      scope: { type: 'capability', required_capabilities: ['SENSOR'], custom: { cell_id: 'cell-A' } },
      artifact: { blob_hash: sha(blob), size_bytes: blob.length, artifact_type: { type: 'config_package', target_path: 'etc/detector.toml' }, sha256: null, name: 'detector', version: id },
      capabilities: ['detector'],
      config: null,
      options,
    });
  const detector = (n: FleetMember) => readFile(join(n.root, 'config', 'etc', 'detector.toml'), 'utf8').catch(() => null);

  it('reaches exactly the matched nodes; one hash mismatch fails the deployment and every node that activated rolls back', async () => {
    const matched = cells.get('cell-A')!.filter((n) => [0, 1, 2, 4, 6].includes(n.index)).map((n) => n.id).sort();
    expect(matched).toHaveLength(3);
    const deployments = zoneLeader.orchestrator.deployments!;
    zoneLeader.orchestrator.deploy(directive('detector-v1', V1, {}));
    expect(await fleet.untilReal(() => deployments.outcome('detector-v1') !== null, 60_000)).toBe(true);
    expect(deployments.outcome('detector-v1')).toMatchObject({ success_percent: 100, targets: 3, active: 3, rollback: null });
    expect([...deployments.statuses('detector-v1').keys()].sort()).toEqual(matched);
    for (const n of fleet.nodes) expect(await detector(n)).toBe(matched.includes(n.id) ? V1.toString() : null);

    zoneLeader.orchestrator.deploy(directive('detector-v2', V2, { replace_existing: true, rollback_threshold_percent: 100 }));
    const good = matched.filter((id) => id !== fleet.nodes[BAD_NODE]!.id);
    // the good nodes activate v2 (their previous artifact, v1, stops); only then does the bad node get its corrupt copy
    expect(await fleet.untilReal(() => good.every((id) => deployments.statuses('detector-v2').get(id)?.state === 'active'), 60_000)).toBe(true);
    for (const id of good) expect(fleet.byId(id).orchestrator.deployments!.agent.runningInstances().map((r) => r.directiveId)).toEqual(['detector-v2']);
    expect(held).toHaveLength(1);
    held.shift()!();
    expect(await fleet.untilReal(() => matched.every((id) => ['failed', 'rolled_back'].includes(deployments.statuses('detector-v2').get(id)?.state ?? '')), 60_000)).toBe(true);
    const outcome = deployments.outcome('detector-v2')!;
    // the two good nodes were active when the bad one failed; below 100 % the issuer rolled everyone back
    expect(outcome).toMatchObject({ targets: 3, active: 2 });
    expect(outcome.rollback?.action).toBe('rollback');
    const statuses = deployments.statuses('detector-v2');
    const bad = fleet.nodes[BAD_NODE]!;
    expect(statuses.get(bad.id)).toMatchObject({ state: 'failed', error_message: 'hash mismatch' });
    for (const id of good) expect(statuses.get(id)?.state).toBe('rolled_back');
    for (const n of fleet.nodes) {
      expect(await detector(n)).toBe(matched.includes(n.id) ? V1.toString() : null);
      const running = n.orchestrator.deployments!.agent.runningInstances().map((r) => r.directiveId);
      expect(running).toEqual(matched.includes(n.id) ? ['detector-v1'] : []);
    }
  }, 180_000);
});
