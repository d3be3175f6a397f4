// SPDX-License-Identifier: Apache-2.0
// A fleet of real `@ecps/peat` replicas in one process, on the in-memory network and a virtual clock, organised as
// a company of platoons of 3 squads of 8 (the last squad and platoon may be short): every node writes its state once
// per round, squad leaders publish squad summaries to their platoon leader and platoon leaders platoon summaries to
// the company leader. It counts replication ops (a document delivered to a peer with at least one new change) and
// bytes on the wire, measures the latency of each echelon hop in simulated time, and can cut half of the platoons
// off the company and measure how long the fleet takes to converge once the partition heals. Hierarchical nodes
// discover each other in broadcast scopes (squad; platoon for squad leaders; company for platoon leaders), so links
// grow linearly with the fleet; the baseline, full replication, has no topology and no scopes. Used by the B1/B2
// test, the benchmark and `ecps peat sim`.
import { seededRandom } from '@ecps/core';
import { MemoryNetwork, PeatError, PeatReplica, VirtualClock, meshTransport } from '@ecps/peat';
import { echelonHop, planFleet, writeNodeState, writePlatoonSummary, writeSquadSummary, writtenAt } from './fleet';
import type { FleetPlace } from './fleet';

export interface ReplicationSimOptions {
  /** Fleet size: squads of 8, platoons of 3 squads, one company (24 = one platoon). */
  readonly nodes: number;
  /** Default true; false is full replication. */
  readonly hierarchical?: boolean;
  /** Measured rounds (one per simulated second) after one warm-up round. Default 4. */
  readonly rounds?: number;
  /**
   * After the measured rounds, cut the second half of the platoons off the first (which holds the company leader)
   * for this many rounds while every node keeps writing and the company leader issues a command, then heal, stop
   * writing and run until the fleet has converged. Needs at least 2 platoons (48 nodes). Default: no partition.
   */
  readonly partitionRounds?: number;
  /** Called after setup and after each round. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Percentiles of a latency sample, in simulated ms. */
export interface LatencyPercentiles {
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

export interface PartitionResult {
  /** At the end of the partition: platoon summaries the company leader held in an older version than their author. */
  readonly staleSummariesDuring: number;
  /** At the end of the partition: nodes that had not received the company's command. */
  readonly nodesMissingCommandDuring: number;
  /** Simulated ms from the heal until every node held the command and the company every latest platoon summary. */
  readonly convergedAfterMs: number;
}

export interface ReplicationSimResult {
  readonly nodes: number;
  readonly squads: number;
  readonly platoons: number;
  readonly hierarchical: boolean;
  readonly rounds: number;
  readonly opsPerRound: number;
  readonly bytesPerRound: number;
  /** Messages on the network per round (syncs, digests, heartbeats, announcements). */
  readonly messagesPerRound: number;
  /** Pairs of nodes that discovered each other. */
  readonly links: number;
  /** Each echelon hop during the measured rounds: a member's state at its squad leader, a squad summary at its platoon leader, a platoon summary at the company leader. */
  readonly latency: { readonly nodeToSquad: LatencyPercentiles; readonly squadToPlatoon: LatencyPercentiles; readonly platoonToCompany: LatencyPercentiles };
  readonly partition?: PartitionResult;
}

interface SimNode {
  readonly place: FleetPlace;
  readonly replica: PeatReplica;
}

const ROUND_MS = 1_000;

function percentiles(samples: number[]): LatencyPercentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  return { samples: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/**
 * Runs the simulation and stops every replica it started.
 * @throws PeatError `INVALID_ARGUMENT` for fewer than 1 node, or a partition with fewer than 2 platoons; `TIMEOUT`
 *   when the simulated mesh does not connect, or does not converge within 120 simulated seconds of the heal.
 */
export async function simulateReplication(options: ReplicationSimOptions): Promise<ReplicationSimResult> {
  const size = options.nodes;
  if (!(Number.isInteger(size) && size >= 1)) throw new PeatError('INVALID_ARGUMENT', `nodes ${size}`);
  const hierarchical = options.hierarchical ?? true;
  const rounds = options.rounds ?? 4;
  const partitionRounds = options.partitionRounds ?? 0;
  const plan = planFleet(size, hierarchical);
  const { squads, platoons, company } = plan;
  if (partitionRounds > 0 && platoons < 2) throw new PeatError('INVALID_ARGUMENT', 'a partition needs at least 2 platoons (48 nodes)');
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock, seed: 7 });
  const nodes: SimNode[] = [];
  const totalSteps = rounds + 1 + (partitionRounds > 0 ? partitionRounds + 1 : 0);
  try {
    for (const [i, place] of plan.places.entries()) {
      const transport = meshTransport({ link: network.link(place.id), clock, random: seededRandom(i * 3 + 1), scopes: place.scopes });
      const replica = await PeatReplica.open({ transport, clock, random: seededRandom(i * 3 + 2), topology: place.topology });
      await replica.start();
      nodes.push({ place, replica });
    }
    const byId = new Map(nodes.map((n) => [n.place.id, n.replica]));
    const connected = await clock.run(() => nodes.every((n) => n.replica.peers().length === n.place.expectedPeers), 120_000);
    if (!connected) throw new PeatError('TIMEOUT', 'the simulated mesh did not connect');
    options.onProgress?.(0, totalSteps);

    // latency of each echelon hop: the written document carries its write time
    const latency = { nodeToSquad: [] as number[], squadToPlatoon: [] as number[], platoonToCompany: [] as number[] };
    let measuring = false;
    const stopWatching = nodes.map(({ place, replica }) =>
      replica.observe((e) => {
        if (!measuring || e.origin !== 'remote') return;
        const hop = echelonHop(place, plan, e.collection, e.id);
        if (!hop) return;
        const at = clock.now();
        void replica.get(e.collection, e.id).then((v) => v && latency[hop].push(at - writtenAt(e.collection, v as Record<string, unknown>)));
      }),
    );

    const round = async (r: number) => {
      for (const n of nodes) await writeNodeState(n.replica, n.place, r, clock.now());
      await clock.run(() => false, 400);
      for (let sq = 0; sq < squads; sq++) await writeSquadSummary(byId.get(plan.squadLeader(sq))!, plan, sq, clock.now());
      await clock.run(() => false, 300);
      for (let p = 0; p < platoons; p++) await writePlatoonSummary(byId.get(plan.platoonLeader(p))!, p, clock.now());
      await clock.run(() => false, ROUND_MS - 700);
    };

    const ops = () => nodes.reduce((s, n) => s + n.replica.stats.deliveriesWithChanges, 0);
    await round(0); // warm-up: the first delivery of every document
    options.onProgress?.(1, totalSteps);
    const before = { ops: ops(), bytes: network.stats.bytes, messages: network.stats.delivered };
    measuring = true;
    for (let r = 1; r <= rounds; r++) {
      await round(r);
      options.onProgress?.(r + 1, totalSteps);
    }
    measuring = false;
    for (const stop of stopWatching) stop();
    const measured = { ops: ops() - before.ops, bytes: network.stats.bytes - before.bytes, messages: network.stats.delivered - before.messages };

    let partition: PartitionResult | undefined;
    if (partitionRounds > 0) {
      const cut = Math.ceil(platoons / 2);
      network.partition([plan.places.filter((p) => p.platoon < cut).map((p) => p.id), plan.places.filter((p) => p.platoon >= cut).map((p) => p.id)]);
      const commander = byId.get(company)!;
      await commander.put('commands', 'regroup', { command_id: 'regroup', originator_id: company, command_type: 'FormationChange', issued_at: clock.now() });
      for (let r = 0; r < partitionRounds; r++) {
        await round(rounds + 1 + r);
        options.onProgress?.(rounds + 2 + r, totalSteps);
      }
      const staleSummaries = async () => {
        let stale = 0;
        for (let p = 1; p < platoons; p++) {
          const theirs = (await byId.get(plan.platoonLeader(p))!.store.heads(`platoon_summaries:pl${p}`)).sort().join();
          const ours = (await commander.store.heads(`platoon_summaries:pl${p}`)).sort().join();
          if (theirs !== ours) stale++;
        }
        return stale;
      };
      const missingCommand = () => nodes.filter((n) => !n.replica.store.has('commands:regroup')).length;
      const staleSummariesDuring = await staleSummaries();
      const nodesMissingCommandDuring = missingCommand();
      network.heal();
      const healedAt = clock.now();
      // converged: checked every 100 simulated ms, so the check costs little next to the sync work
      while (missingCommand() > 0 || (await staleSummaries()) > 0) {
        if (clock.now() - healedAt > 120_000) throw new PeatError('TIMEOUT', 'the fleet did not converge within 120 s of the heal');
        await clock.run(() => false, 100);
      }
      partition = { staleSummariesDuring, nodesMissingCommandDuring, convergedAfterMs: clock.now() - healedAt };
      options.onProgress?.(totalSteps, totalSteps);
    }
    return {
      nodes: nodes.length,
      squads,
      platoons,
      hierarchical,
      rounds,
      opsPerRound: measured.ops / rounds,
      bytesPerRound: measured.bytes / rounds,
      messagesPerRound: measured.messages / rounds,
      links: nodes.reduce((s, n) => s + n.replica.peers().length, 0) / 2,
      latency: { nodeToSquad: percentiles(latency.nodeToSquad), squadToPlatoon: percentiles(latency.squadToPlatoon), platoonToCompany: percentiles(latency.platoonToCompany) },
      ...(partition ? { partition } : {}),
    };
  } finally {
    for (const n of nodes) await n.replica.stop();
  }
}
