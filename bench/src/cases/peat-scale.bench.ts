// SPDX-License-Identifier: Apache-2.0
// Peat at scale on the in-memory network with counters (spec §9 B1-B3, B5; issue 20 "at scale"): a company of
// platoons of 3 squads of 8 at 24, 48, 96, 384 and 1,000 nodes, each run in a fresh process (peat-sim-child.ts) so its
// RSS is its own. Hierarchical replication against full replication (every document to every node): full
// replication runs at 24 and 48 nodes; beyond, it does not fit the shared machine's time (n² links and document
// copies: 96 nodes did not finish 5 rounds in 30 minutes under load), so its ops are computed from
// (n + squads + platoons)(n − 1), which the case checks against the two runs, and its bytes from the 48-node run's
// bytes per op. Runs of 48 nodes and more also cut half of the platoons off the company, then heal
// and time convergence. The figures are counts (and simulated time): one repetition is enough. `pnpm bench` turns
// them into docs/peat-scale.svg (plot-peat-scale.ts).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryNetwork, VirtualClock } from '@ecps/peat';
import type { ReplicationSimResult } from '@ecps/peat-hierarchy';
import { startProcess } from '@ecps/testkit/launchers';
import { quantile, type BenchCase } from '../harness';
import type { PeatScalePoint } from '../plot-peat-scale';

type Run = ReplicationSimResult & { rssPerNodeBytes: number; wallMs: number };

const SIZES = [24, 48, 96, 384, 1000] as const;
const FULL_RUN_SIZES = new Set([24, 48]);
// five simulated seconds: one whole period of the heartbeats, announcements and digests (every 5 s) in every window
const ROUNDS = 5;
const PARTITION_ROUNDS = 2;
const here = fileURLToPath(new URL('.', import.meta.url));
const runs = new Map<string, Promise<Run>>();

/** One simulation in its own process (memoised: every case of a size reads the same run). */
function simulate(nodes: number, hierarchical: boolean): Promise<Run> {
  const key = `${nodes}/${hierarchical}`;
  let run = runs.get(key);
  if (!run) {
    run = (async () => {
      const partition = hierarchical && nodes >= 48 ? PARTITION_ROUNDS : 0;
      const child = startProcess(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, '..', 'peat-sim-child.ts'), String(nodes), hierarchical ? 'hierarchical' : 'full', String(ROUNDS), String(partition)]);
      try {
        const line = await child.waitForLine((l) => l.startsWith('result '), 1_800_000);
        return JSON.parse(line.slice('result '.length)) as Run;
      } finally {
        await child.stop();
      }
    })();
    runs.set(key, run);
  }
  return run;
}

const fullOpsFormula = (r: ReplicationSimResult) => (r.nodes + r.squads + r.platoons) * (r.nodes - 1);

/** Full replication at `nodes`: run, or computed from the formula checked against the runs. */
async function full(nodes: number, hier: Run): Promise<{ ops: number; bytes: number; computed: boolean }> {
  if (FULL_RUN_SIZES.has(nodes)) {
    const r = await simulate(nodes, false);
    return { ops: r.opsPerRound, bytes: r.bytesPerRound, computed: false };
  }
  const checked = await Promise.all([...FULL_RUN_SIZES].map((n) => simulate(n, false)));
  for (const r of checked) {
    if (r.opsPerRound !== fullOpsFormula(r)) throw new Error(`full replication at ${r.nodes} nodes: ${r.opsPerRound} ops/round, formula ${fullOpsFormula(r)}`);
  }
  const largest = checked[checked.length - 1]!;
  const ops = fullOpsFormula(hier);
  return { ops, bytes: (largest.bytesPerRound / largest.opsPerRound) * ops, computed: true };
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));

function scaleCase(nodes: number, metric: 'ops' | 'bytes'): BenchCase {
  let point: PeatScalePoint | undefined;
  let notes: string[] = [];
  const computed = !FULL_RUN_SIZES.has(nodes);
  return {
    name:
      `peat scale: ${metric === 'ops' ? 'replication ops' : 'bytes'} per round at ${nodes} nodes, hierarchical vs full replication` +
      (computed ? (metric === 'ops' ? ' (full replication computed: (n + squads + platoons)(n − 1), checked against its runs at 24 and 48)' : ' (full replication computed: bytes per op of its 48-node run × computed ops)') : ''),
    unit: metric === 'ops' ? 'ops/round' : 'B/round',
    higherIsBetter: false,
    repetitions: 1,
    async ours() {
      const h = await simulate(nodes, true);
      const f = await full(nodes, h);
      const value = metric === 'ops' ? h.opsPerRound : h.bytesPerRound;
      point = { nodes, metric, hierarchical: value, full: metric === 'ops' ? f.ops : f.bytes, fullComputed: f.computed };
      notes = [`${fmt(value / nodes)} ${metric === 'ops' ? 'ops' : 'B'} per node per round; ${h.links} links (${fmt((2 * h.links) / nodes)} per node); ${h.squads} squads, ${h.platoons} platoons; ${(h.wallMs / 1000).toFixed(0)} s wall for ${ROUNDS + 1} rounds${h.partition ? ` and the partition` : ''}`];
      if (metric === 'ops' && h.partition) {
        const p = h.partition;
        notes.push(
          `partition (the last ${h.platoons - Math.ceil(h.platoons / 2)} of ${h.platoons} platoons cut off the company for ${PARTITION_ROUNDS} rounds): at its end the company held ${p.staleSummariesDuring} stale platoon summaries and ${p.nodesMissingCommandDuring} nodes lacked its command; converged ${p.convergedAfterMs} simulated ms after the heal`,
        );
      }
      return value;
    },
    async baseline() {
      const f = await full(nodes, await simulate(nodes, true));
      return metric === 'ops' ? f.ops : f.bytes;
    },
    details: () => (point ? { notes, data: { peatScale: point } } : undefined),
  };
}

/** One raw message on the same in-memory network model (1-5 ms uniform), in simulated ms: the floor of a hop. */
function rawHops(count = 2000): number[] {
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock, seed: 7 });
  const a = network.link('a');
  const b = network.link('b');
  const out: number[] = [];
  const sentAt = new Map<number, number>();
  void b.start({ message: (_from, data) => out.push(clock.now() - sentAt.get(data[0]! * 256 + data[1]!)!) });
  void a.start({ message: () => undefined });
  for (let i = 0; i < count; i++) {
    sentAt.set(i, clock.now());
    void a.send('b', new Uint8Array([i >> 8, i & 255]));
    clock.advance(10);
  }
  clock.advance(100);
  return out;
}

const HOPS = [
  ['nodeToSquad', 'node → squad leader'],
  ['squadToPlatoon', 'squad → platoon leader'],
  ['platoonToCompany', 'platoon → company leader'],
] as const;

function latencyCase(nodes: number, hop: (typeof HOPS)[number]): BenchCase {
  let notes: string[] = [];
  const raw = rawHops();
  return {
    name: `peat scale B3: ${hop[1]} latency p50 at ${nodes} nodes, simulated ms (vs one raw message on the same 1-5 ms network model; p90/p99 in the notes)`,
    unit: 'ms',
    higherIsBetter: false,
    repetitions: 1,
    async ours() {
      const l = (await simulate(nodes, true)).latency[hop[0]];
      notes = [`ours: p50 ${l.p50.toFixed(2)}, p90 ${l.p90.toFixed(2)}, p99 ${l.p99.toFixed(2)} ms over ${l.samples} deliveries; raw: p50 ${quantile(raw, 0.5).toFixed(2)}, p90 ${quantile(raw, 0.9).toFixed(2)}, p99 ${quantile(raw, 0.99).toFixed(2)} ms`];
      return l.p50;
    },
    baseline: async () => quantile(raw, 0.5),
    details: () => ({ notes }),
  };
}

const rss: BenchCase = (() => {
  let notes: string[] = [];
  return {
    name: 'peat scale B5: RSS growth per node at 48 nodes, hierarchical vs full replication (each in a fresh process; other sizes in the notes)',
    unit: 'KiB',
    higherIsBetter: false,
    repetitions: 1,
    async ours() {
      const sizes = await Promise.all(SIZES.map((n) => simulate(n, true)));
      notes = [`hierarchical: ${sizes.map((r) => `${(r.rssPerNodeBytes / 1024).toFixed(0)} KiB at ${r.nodes}`).join(', ')} (resident set growth of the process from before the fleet to after the measured rounds, divided by the nodes)`];
      return (await simulate(48, true)).rssPerNodeBytes / 1024;
    },
    baseline: async () => (await simulate(48, false)).rssPerNodeBytes / 1024,
    details: () => ({ notes }),
  };
})();

export default [...SIZES.flatMap((n) => [scaleCase(n, 'ops'), scaleCase(n, 'bytes')]), ...HOPS.map((h) => latencyCase(1000, h)), rss];
