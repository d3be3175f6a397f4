// SPDX-License-Identifier: Apache-2.0
// One run of the Peat replication simulation in a fresh process (cases/peat-scale.bench.ts), so that its RSS is its
// own: `peat-sim-child.ts <nodes> <hierarchical|full> <rounds> <partition rounds>` prints one line
// `result <json>`: the simulation's result plus `rssPerNodeBytes`, the growth of the process's resident set from
// before the fleet existed to its peak while every replica was live (after the measured rounds), per node.
// Run with --expose-gc.
import { simulateReplication } from '@ecps/peat-hierarchy';

const [nodesArg, modeArg, roundsArg, partitionArg] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const nodes = Number(nodesArg);
const rounds = Number(roundsArg ?? 2);
const partitionRounds = Number(partitionArg ?? 0);
gc();
const rss0 = process.memoryUsage().rss;
let peak = rss0;
const started = performance.now();
const result = await simulateReplication({
  nodes,
  hierarchical: modeArg !== 'full',
  rounds,
  partitionRounds,
  onProgress: (done) => {
    // sampled after a collection once the measured rounds are done, while every replica is live
    if (done === rounds + 1) {
      gc();
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  },
});
console.log(`result ${JSON.stringify({ ...result, rssPerNodeBytes: (peak - rss0) / nodes, wallMs: performance.now() - started })}`);
