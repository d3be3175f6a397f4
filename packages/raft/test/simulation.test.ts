// SPDX-License-Identifier: Apache-2.0
// Seeded simulation of the production stack (RaftNode, FileStorage on a simulated disk, transportNetwork, serveKv,
// KvClient) under random faults; linearizability and Raft's safety invariants checked for every seed.
// ECPS_SEED=<n> replays one seed; ECPS_SEEDS=<count> runs more (default 200).
import { describe, expect, it } from '@jest/globals';
import { checkLinearizability } from '@ecps/testkit';
import { SimCluster, kvModel } from './sim-cluster';
import type { SimClusterOptions } from './sim-cluster';

const single = process.env.ECPS_SEED;
const count = Number(process.env.ECPS_SEEDS ?? 200);
const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => i + 1);

interface SeedResult {
  failure?: string;
  ops: number;
  faults: string[];
  /** What the faults did in this seed. */
  effects: Record<string, number>;
}

async function runSeed(seed: number, overrides: Partial<SimClusterOptions> = {}): Promise<SeedResult> {
  // seeds vary the shape: 3 or 5 voters, spare nodes joining and leaving, lease or ReadIndex reads
  const c = new SimCluster({
    seed,
    voters: seed % 4 === 0 ? 5 : 3,
    spares: seed % 3 === 0 ? 2 : 0,
    readOnly: seed % 5 === 0 || seed % 5 === 3 ? 'lease' : 'safe',
    ...overrides,
  });
  const until = 1_500;
  c.startAll();
  c.startClients(3, 3, until);
  c.startNemesis(until);
  await c.net.runUntilAsync(until);
  // faults stop: the cluster must recover and answer every client
  c.endFaults();
  const settled = await c.net.runWhileAsync(() => c.clientsDone(), until + 20_000);
  const disks = [...c.disks.values()].map((d) => d.stats);
  const effects = {
    blocked: c.net.stats.blocked,
    dropped: c.net.stats.dropped,
    deferred: c.net.stats.deferred,
    lostBytes: disks.reduce((n, d) => n + d.lostBytes, 0),
    tornWrites: disks.reduce((n, d) => n + d.tornWrites, 0),
    timedOut: c.history.filter((h) => h.output === undefined).length,
    terms: Math.max(0, ...[...c.members.values()].map((m) => m?.node.status().term ?? 0)),
  };
  const result = (failure?: string): SeedResult => ({
    ...(failure ? { failure } : {}),
    ops: c.history.filter((h) => h.output !== undefined).length,
    faults: c.faults,
    effects,
  });
  if (c.violations.length > 0) return result(c.violations.join('; '));
  if (!settled || c.failedAfterFaults.length > 0) {
    return result(`no progress after the faults stopped: ${settled ? c.failedAfterFaults.join(', ') : 'clients still busy'}`);
  }
  const r = checkLinearizability(kvModel, c.history);
  if (!r.ok) {
    return result(`history not linearizable${r.inconclusive ? ' (inconclusive)' : ''}: ${JSON.stringify(r.failingPartition?.slice(0, 30))}`);
  }
  return result();
}

describe('Raft KV (production code) under a seeded nemesis', () => {
  it(`keeps safety and linearizability for ${seeds.length} seed(s)`, async () => {
    let ops = 0;
    const effects: Record<string, number> = {};
    for (const seed of seeds) {
      const r = await runSeed(seed);
      if (r.failure) {
        throw new Error(`seed ${seed} failed (replay with ECPS_SEED=${seed}): ${r.failure}\nfaults:\n${r.faults.join('\n')}`);
      }
      ops += r.ops;
      for (const [k, v] of Object.entries(r.effects)) effects[k] = (effects[k] ?? 0) + v;
    }
    expect(ops).toBeGreaterThan(seeds.length * 10);
    if (seeds.length >= 20) {
      // the faults did something: messages cut and lost, processes held back, unsynced bytes lost and torn,
      // calls that never learned their outcome, and many elections
      for (const k of ['blocked', 'dropped', 'deferred', 'lostBytes', 'tornWrites', 'timedOut']) expect([k, effects[k] ?? 0]).not.toEqual([k, 0]);
      expect(effects['terms']).toBeGreaterThan(seeds.length * 2);
    }
  }, 1_800_000);
});
