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
/** Node 2 fetches from /bad/: its copy of v2 has one byte flipped (v1 is intact), and arrives late. */
const BAD_NODE = 2;
const server = createServer((req, res) => {
  const [, mode, hash] = (req.url ?? '').split('/');
  const blob = blobs.get(decodeURIComponent(hash ?? ''));
  if (!blob) return void res.writeHead(404).end();
  if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': blob.length }).end();
  const corrupt = mode === 'bad' && blob === V2;
  const body = corrupt ? Buffer.from(blob) : blob;
  if (corrupt) body[0]! ^= 0xff;
  setTimeout(() => res.writeHead(200, { 'content-length': body.length }).end(body), corrupt ? 300 : 0);
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
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
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
