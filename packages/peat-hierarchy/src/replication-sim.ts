// SPDX-License-Identifier: Apache-2.0
// A fleet of real `@ecps/peat` replicas in one process, on the in-memory network and a virtual clock, organised as
// platoons of 3 squads of 8: every node writes its state once per round, squad leaders publish squad summaries to
// their platoon leader and platoon leaders platoon summaries to the company leader. It counts replication ops (a
// document delivered to a peer with at least one new change) and bytes on the wire, hierarchical or, as the
// baseline, with no topology (full replication). Used by the B1/B2 test, the benchmark and `ecps peat sim`.
import { seededRandom } from '@ecps/core';
import { CapabilityType as T, Health, MemoryNetwork, PeatError, PeatReplica, VirtualClock, meshTransport } from '@ecps/peat';
import type { DocValue, NodeState } from '@ecps/peat';
import { platoonSummary, squadSummary } from './summary';
import type { SquadSource, SquadSummary } from './summary';

export interface ReplicationSimOptions {
  /** Platoons of 24 nodes. */
  readonly platoons: number;
  /** Default true; false is full replication. */
  readonly hierarchical?: boolean;
  /** Measured rounds after one warm-up round. Default 4. */
  readonly rounds?: number;
  /** Called after setup and after each round. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ReplicationSimResult {
  readonly nodes: number;
  readonly hierarchical: boolean;
  readonly rounds: number;
  readonly opsPerRound: number;
  readonly bytesPerRound: number;
  /** Messages on the network per round (syncs, digests, heartbeats). */
  readonly messagesPerRound: number;
}

interface SimNode {
  readonly id: string;
  readonly replica: PeatReplica;
  readonly squad: number;
  readonly platoon: number;
}

/** Runs the simulation. @throws PeatError `INVALID_ARGUMENT` for fewer than 1 platoon; `TIMEOUT` when the mesh does not connect. */
export async function simulateReplication(options: ReplicationSimOptions): Promise<ReplicationSimResult> {
  const { platoons } = options;
  if (!(Number.isInteger(platoons) && platoons >= 1)) throw new PeatError('INVALID_ARGUMENT', `platoons ${platoons}`);
  const hierarchical = options.hierarchical ?? true;
  const rounds = options.rounds ?? 4;
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock, seed: 7 });
  const nodes: SimNode[] = [];
  try {
    for (let p = 0; p < platoons; p++)
      for (let s = 0; s < 3; s++)
        for (let m = 0; m < 8; m++) {
          const i = nodes.length;
          const id = `p${p}s${s}m${m}`;
          const transport = meshTransport({ link: network.link(id), clock, random: seededRandom(i * 3 + 1) });
          const replica = await PeatReplica.open({ transport, clock, random: seededRandom(i * 3 + 2) });
          await replica.start();
          nodes.push({ id, replica, squad: p * 3 + s, platoon: p });
        }
    const squadLeader = (sq: number) => `p${Math.floor(sq / 3)}s${sq % 3}m0`;
    const platoonLeader = (p: number) => squadLeader(p * 3);
    const company = platoonLeader(0);
    if (hierarchical) {
      for (const n of nodes) {
        if (n.id !== squadLeader(n.squad)) {
          n.replica.setTopology({ parent: squadLeader(n.squad) });
          continue;
        }
        const children = nodes.filter((x) => x.squad === n.squad && x.id !== n.id).map((x) => x.id);
        const isPlatoonLeader = n.id === platoonLeader(n.platoon);
        if (isPlatoonLeader) children.push(squadLeader(n.platoon * 3 + 1), squadLeader(n.platoon * 3 + 2));
        if (n.id === company) for (let p = 1; p < platoons; p++) children.push(platoonLeader(p));
        const parent = n.id === company ? undefined : isPlatoonLeader ? company : platoonLeader(n.platoon);
        n.replica.setTopology({ children, ...(parent ? { parent } : {}) });
      }
    }
    const connected = await clock.run(() => nodes.every((n) => n.replica.peers().length === nodes.length - 1), 120_000);
    if (!connected) throw new PeatError('TIMEOUT', 'the simulated mesh did not connect');
    options.onProgress?.(0, rounds + 1);
    const byId = new Map(nodes.map((n) => [n.id, n]));

    const round = async (r: number) => {
      for (const n of nodes) {
        const state: NodeState = {
          position: { latitude: 34 + n.squad * 0.01 + (n.id.charCodeAt(n.id.length - 1) - 48) * 1e-5, longitude: -117, altitude: 0 },
          fuel_minutes: 120 - r,
          health: Health.NOMINAL,
          phase: 3,
          cell_id: `sq${n.squad}`,
          zone_id: `pl${n.platoon}`,
          timestamp: clock.now(),
        };
        await n.replica.put('node_states', n.id, state as unknown as DocValue);
      }
      await clock.run(() => false, 400);
      for (let sq = 0; sq < platoons * 3; sq++) {
        const leader = byId.get(squadLeader(sq))!;
        const prefix = squadLeader(sq).slice(0, -1);
        const sources: SquadSource[] = [];
        for (const id of await leader.replica.list('node_states')) {
          if (!id.startsWith(prefix)) continue;
          const state = (await leader.replica.get('node_states', id)) as unknown as NodeState;
          sources.push({ node_id: id, state, config: { capabilities: [{ id: `${id}-radio`, name: 'radio', capability_type: T.COMMUNICATION, confidence: 0.9, metadata: {}, registered_at: 0 }], operator_binding: null } });
        }
        await leader.replica.put('squad_summaries', `sq${sq}`, squadSummary(`sq${sq}`, leader.id, sources, { now: clock.now() }) as unknown as DocValue);
      }
      await clock.run(() => false, 300);
      for (let p = 0; p < platoons; p++) {
        const leader = byId.get(platoonLeader(p))!;
        const squads: SquadSummary[] = [];
        for (const id of await leader.replica.list('squad_summaries')) {
          if (Math.floor(Number(id.slice(2)) / 3) === p) squads.push((await leader.replica.get('squad_summaries', id)) as unknown as SquadSummary);
        }
        if (squads.length > 0) await leader.replica.put('platoon_summaries', `pl${p}`, platoonSummary(`pl${p}`, leader.id, squads, { now: clock.now() }) as unknown as DocValue);
      }
      await clock.run(() => false, 300);
    };

    const ops = () => nodes.reduce((s, n) => s + n.replica.stats.deliveriesWithChanges, 0);
    await round(0); // warm-up: the first delivery of every document
    options.onProgress?.(1, rounds + 1);
    const before = { ops: ops(), bytes: network.stats.bytes, messages: network.stats.delivered };
    for (let r = 1; r <= rounds; r++) {
      await round(r);
      options.onProgress?.(r + 1, rounds + 1);
    }
    return {
      nodes: nodes.length,
      hierarchical,
      rounds,
      opsPerRound: (ops() - before.ops) / rounds,
      bytesPerRound: (network.stats.bytes - before.bytes) / rounds,
      messagesPerRound: (network.stats.delivered - before.messages) / rounds,
    };
  } finally {
    for (const n of nodes) await n.replica.stop();
  }
}
