// SPDX-License-Identifier: Apache-2.0
// Seeded simulation: random faults, clients retrying through leader changes, linearizability checked per seed.
// ECPS_SEED=<n> replays one seed; ECPS_SEEDS=<count> runs more (default 200).
import { describe, expect, it } from '@jest/globals';
import { checkLinearizability } from '@ecps/testkit';
import { SimCluster, kvModel } from './sim-cluster';

const single = process.env.ECPS_SEED;
const count = Number(process.env.ECPS_SEEDS ?? 200);
const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => i + 1);

function runSeed(seed: number, unsafeLocalReads = false): { failure?: string; ops: number } {
  // seeds vary the shape: 3 or 5 voters, spare nodes joining and leaving, lease or ReadIndex reads
  const c = new SimCluster({
    seed,
    unsafeLocalReads,
    voters: seed % 4 === 0 ? 5 : 3,
    spares: seed % 3 === 0 ? 2 : 0,
    readOnly: seed % 5 === 0 ? 'lease' : 'safe',
  });
  const until = 1_200;
  c.startNemesis(until);
  c.startClients(3, 3, until);
  c.net.runUntil(until);
  // faults stop: the cluster must recover and answer every client
  c.net.heal();
  for (const id of c.ids) c.restart(id);
  const settled = c.net.runWhile(() => c.clientsDone(), until + 10_000);
  if (c.violations.length > 0) return { failure: c.violations.join('; '), ops: c.history.length };
  if (!settled) return { failure: 'clients did not finish after the faults stopped (no progress)', ops: c.history.length };
  const completed = c.history.filter((h) => h.output !== undefined).length;
  if (completed === 0) return { failure: 'no operation completed', ops: 0 };
  const r = checkLinearizability(kvModel, c.history);
  if (!r.ok) {
    return { failure: `history not linearizable${r.inconclusive ? ' (inconclusive)' : ''}: ${JSON.stringify(r.failingPartition?.slice(0, 40))}`, ops: c.history.length };
  }
  return { ops: completed };
}

describe('Raft KV under a seeded nemesis (linearizability)', () => {
  it(`keeps safety and linearizability for ${seeds.length} seed(s)`, () => {
    let ops = 0;
    for (const seed of seeds) {
      const r = runSeed(seed);
      if (r.failure) throw new Error(`seed ${seed} failed (replay with ECPS_SEED=${seed}): ${r.failure}`);
      ops += r.ops;
    }
    expect(ops).toBeGreaterThan(seeds.length * 5);
  });

  it('catches a deliberately broken read path (local reads without ReadIndex) within a few dozen seeds', () => {
    let caught: number | undefined;
    for (let seed = 1; seed <= 100 && caught === undefined; seed++) {
      if (runSeed(seed, true).failure?.includes('not linearizable')) caught = seed;
    }
    expect(caught).toBeDefined();
  });
});
