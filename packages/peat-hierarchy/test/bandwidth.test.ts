// SPDX-License-Identifier: Apache-2.0
// B1 and B2 (spec §9) on the in-memory transport with counters (see src/replication-sim.ts).
import { describe, expect, it } from '@jest/globals';
import { simulateReplication } from '../src/index';

describe('B1/B2: hierarchical replication on the in-memory transport', () => {
  it('24 nodes (3 × 8): ≤ 36 ops per round, against full replication; 96 nodes: ops(96)/ops(24) ≤ 4.5', async () => {
    const h24 = await simulateReplication({ platoons: 1 });
    const full24 = await simulateReplication({ platoons: 1, hierarchical: false, rounds: 2 });
    const h96 = await simulateReplication({ platoons: 4, rounds: 2 });
    console.log(JSON.stringify({ h24, full24, h96, ratio: h96.opsPerRound / h24.opsPerRound }));
    expect(h24.nodes).toBe(24);
    expect(h24.opsPerRound).toBeLessThanOrEqual(36);
    expect(full24.opsPerRound).toBeGreaterThan(500);
    expect(h24.bytesPerRound).toBeLessThan(full24.bytesPerRound);
    expect(h96.opsPerRound / h24.opsPerRound).toBeLessThanOrEqual(4.5);
  }, 180_000);
});
