// SPDX-License-Identifier: Apache-2.0
// B1/B2 (Peat spec §9): replication ops and bytes per round at 24 nodes (3 squads of 8) and 96 nodes (4 platoons),
// hierarchical (node → squad leader → platoon leader → company leader) against full replication of the same
// workload (every document to every peer). Real @ecps/peat replicas on the in-memory network, counted by the sync
// engines; the figures are counts, so one repetition is enough.
import { simulateReplication } from '@ecps/peat-hierarchy';
import type { BenchCase } from '../harness';

function replication(platoons: number, metric: 'opsPerRound' | 'bytesPerRound'): BenchCase {
  return {
    name: `peat-hierarchy: ${metric === 'opsPerRound' ? 'replication ops' : 'bytes'} per round at ${platoons * 24} nodes, hierarchical vs full replication`,
    unit: metric === 'opsPerRound' ? 'ops/round' : 'B/round',
    higherIsBetter: false,
    repetitions: 1,
    ours: async () => (await simulateReplication({ platoons, rounds: 2 }))[metric],
    baseline: async () => (await simulateReplication({ platoons, hierarchical: false, rounds: 1 }))[metric],
  };
}

export default [replication(1, 'opsPerRound'), replication(1, 'bytesPerRound'), replication(4, 'opsPerRound')];
