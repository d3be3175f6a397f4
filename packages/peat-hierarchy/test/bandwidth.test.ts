// SPDX-License-Identifier: Apache-2.0
// B1, B2 and B3 (spec §9) on the in-memory transport with counters (see src/replication-sim.ts), and a partition
// that cuts half of the platoons off the company: it must show (stale summaries, a command that did not arrive)
// and heal. The full-size runs (384 and 1,000 nodes) are in bench/src/cases/peat-scale.bench.ts.
import { describe, expect, it } from '@jest/globals';
import { planFleet, simulateReplication } from '../src/index';

describe('B1/B2: hierarchical replication on the in-memory transport', () => {
  it('24 nodes (3 × 8): ≤ 36 ops per round, against full replication; 96 nodes: ops(96)/ops(24) ≤ 4.5, and a partition heals', async () => {
    const h24 = await simulateReplication({ nodes: 24 });
    const full24 = await simulateReplication({ nodes: 24, hierarchical: false, rounds: 2 });
    const h96 = await simulateReplication({ nodes: 96, rounds: 2, partitionRounds: 2 });
    console.log(JSON.stringify({ h24, full24, h96, ratio: h96.opsPerRound / h24.opsPerRound }));
    expect(h24.nodes).toBe(24);
    expect(h24.opsPerRound).toBeLessThanOrEqual(36);
    // full replication: every document (24 states, 3 squad and 1 platoon summary) to every other node
    expect(full24.opsPerRound).toBe((24 + 3 + 1) * 23);
    expect(h24.bytesPerRound).toBeLessThan(full24.bytesPerRound);
    expect(h96.opsPerRound / h24.opsPerRound).toBeLessThanOrEqual(4.5);
    // links grow with the fleet, not with its square: scoped discovery
    expect(h96.links).toBeLessThan(4.5 * h24.links);
    expect(full24.links).toBe((24 * 23) / 2);

    // B3: every hop was measured, and took one message of the network's 1-5 ms (no wait for anti-entropy)
    for (const hop of [h96.latency.nodeToSquad, h96.latency.squadToPlatoon, h96.latency.platoonToCompany]) {
      expect(hop.samples).toBeGreaterThan(0);
      expect(hop.p50).toBeGreaterThanOrEqual(1);
      expect(hop.p99).toBeLessThanOrEqual(5);
    }
    expect(h96.latency.nodeToSquad.samples).toBe(2 * (96 - 12)); // every member's state, every round

    // the partition had an effect: the company lacked platoons 2 and 3's latest summaries, and their 48 nodes the command
    expect(h96.partition!.staleSummariesDuring).toBe(2);
    expect(h96.partition!.nodesMissingCommandDuring).toBe(48);
    expect(h96.partition!.convergedAfterMs).toBeGreaterThan(0);
  }, 240_000);

  it('lays out squads of 8 and platoons of 3 squads, the last ones short, with scoped discovery', () => {
    const plan = planFleet(1000, true);
    expect(plan).toMatchObject({ squads: 125, platoons: 42, company: 'p0s0m0' });
    expect(plan.places[999]).toMatchObject({ id: 'p41s1m7', squad: 124, platoon: 41, scopes: ['sq124'], topology: { parent: 'p41s1m0' }, expectedPeers: 7 });
    // the leader of platoon 41 (squads 123 and 124 only): its squad, its two squad leaders' platoon scope, the 41 other platoon leaders
    expect(plan.byId.get('p41s0m0')).toMatchObject({ scopes: ['sq123', 'pl41', 'co'], topology: { parent: 'p0s0m0' }, expectedPeers: 7 + 1 + 41 });
    expect(new Set(plan.places.map((f) => f.id)).size).toBe(1000);
    expect(planFleet(24, false).places.every((p) => p.expectedPeers === 23 && p.scopes.length === 0)).toBe(true);
  });
});
