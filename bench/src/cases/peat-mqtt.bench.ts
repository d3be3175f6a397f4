// SPDX-License-Identifier: Apache-2.0
// Peat over MQTT with real processes (spec §9 B1, B3, B5 on MQTT): a Mosquitto broker and the fleet of the
// in-memory simulation spread over 4 OS processes (peat-mqtt-child.ts; node i in process (i + its squad) mod 4, so every echelon
// hop crosses processes), each node with its own MQTT connection, real timers, 1 update per node per second.
// - ops and link bytes per round at 24 nodes (3 squads of 8), hierarchical vs full replication;
// - latency p50/p90/p99 of each echelon hop at 48 nodes (2 platoons, so there is a platoon → company hop), vs one
//   raw mqtt.js QoS 1 publish → delivery of the same size between two connections of this process, same broker;
// - resident set growth per node of the node processes, hierarchical vs full replication at 24 nodes.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync } from 'mqtt';
import { startMosquitto, startProcess, type MosquittoHandle, type NodeScriptHandle } from '@ecps/testkit/launchers';
import { quantile, type BenchCase } from '../harness';

const PROCESSES = 4;
const ROUNDS = 5;
/** After the last process wrote its last round, before the counters are read. */
const SETTLE_MS = 2_000;
const here = fileURLToPath(new URL('.', import.meta.url));

interface ChildResult {
  nodes: number;
  ops: number;
  bytes: number;
  latency: Record<Hop, number[]>;
  rssBefore: number;
  rssAfter: number;
  lagMs: number;
  skipped: number;
}
type Hop = 'nodeToSquad' | 'squadToPlatoon' | 'platoonToCompany';
interface FleetRun {
  opsPerRound: number;
  bytesPerRound: number;
  latency: Record<Hop, number[]>;
  rssPerNodeBytes: number;
  /** Worst lateness of a process's schedule and summaries skipped for lack of fresh input (an overloaded machine). */
  lagMs: number;
  skipped: number;
}

let broker: Promise<MosquittoHandle> | undefined;
let users = 0;
let meshSeq = 0;
const runs = new Map<string, Promise<FleetRun>>();

function acquire(): Promise<MosquittoHandle> {
  users++;
  broker ??= startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
  return broker;
}
async function release(): Promise<void> {
  if (--users > 0 || !broker) return;
  const b = await broker;
  broker = undefined;
  await b.stop();
}

/** The first line each child prints that `predicate` accepts; waits for all (no rejection left unhandled), then throws the first failure. */
async function lines(children: readonly NodeScriptHandle[], predicate: (line: string) => boolean, timeoutMs: number): Promise<string[]> {
  const settled = await Promise.allSettled(children.map((c) => c.waitForLine(predicate, timeoutMs)));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<string>).value);
}

/**
 * One fleet run over the broker of the case that needs it first (memoised per size and mode, beyond that case's
 * broker, so every case reads the same figures).
 */
function fleet(nodes: number, hierarchical: boolean): Promise<FleetRun> {
  const key = `${nodes}/${hierarchical}`;
  let run = runs.get(key);
  if (!run) {
    run = (async () => {
      const { url } = await broker!;
      const mesh = `bench${process.pid}x${++meshSeq}`;
      const children: NodeScriptHandle[] = [];
      try {
        for (let k = 0; k < PROCESSES; k++) {
          const args = [url, mesh, String(nodes), String(k), String(PROCESSES), hierarchical ? 'hierarchical' : 'full', String(ROUNDS)];
          children.push(startProcess(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, '..', 'peat-mqtt-child.ts'), ...args]));
        }
        await lines(children, (l) => l === 'ready', 120_000);
        const control = await connectAsync(url, { protocolVersion: 5 });
        let results: ChildResult[];
        try {
          await control.publishAsync(`bench/peat/${mesh}/go`, String(Date.now() + 1500), { qos: 1 });
          await lines(children, (l) => l === 'written', 600_000);
          await new Promise((r) => setTimeout(r, SETTLE_MS));
          await control.publishAsync(`bench/peat/${mesh}/stop`, '', { qos: 1 });
          results = (await lines(children, (l) => l.startsWith('result '), 30_000)).map((l) => JSON.parse(l.slice('result '.length)) as ChildResult);
        } finally {
          await control.endAsync();
        }
        const sum = (f: (r: ChildResult) => number) => results.reduce((s, r) => s + f(r), 0);
        const hops = (h: Hop) => results.flatMap((r) => r.latency[h]);
        return {
          opsPerRound: sum((r) => r.ops) / ROUNDS,
          bytesPerRound: sum((r) => r.bytes) / ROUNDS,
          latency: { nodeToSquad: hops('nodeToSquad'), squadToPlatoon: hops('squadToPlatoon'), platoonToCompany: hops('platoonToCompany') },
          rssPerNodeBytes: sum((r) => r.rssAfter - r.rssBefore) / nodes,
          lagMs: Math.max(...results.map((r) => r.lagMs)),
          skipped: sum((r) => r.skipped),
        };
      } finally {
        await Promise.all(children.map((c) => c.stop()));
      }
    })();
    runs.set(key, run);
  }
  return run;
}

/** One raw QoS 1 publish → delivery of `size` bytes at a time, between two mqtt.js connections, ms. */
let raw: Promise<number[]> | undefined;
function rawHops(size = 400, count = 300): Promise<number[]> {
  raw ??= (async () => {
    const { url } = await broker!;
    const pub = await connectAsync(url, { protocolVersion: 5 });
    const sub = await connectAsync(url, { protocolVersion: 5 });
    try {
      let arrived: (() => void) | undefined;
      sub.on('message', () => arrived?.());
      await sub.subscribeAsync('bench/peat/raw', { qos: 1 });
      const out: number[] = [];
      const payload = Buffer.alloc(size, 7);
      for (let i = 0; i < count; i++) {
        const got = new Promise<void>((r) => (arrived = r));
        const t = performance.now();
        await pub.publishAsync('bench/peat/raw', payload, { qos: 1 });
        await got;
        out.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 5));
      }
      return out;
    } finally {
      await pub.endAsync(true);
      await sub.endAsync(true);
    }
  })();
  return raw;
}

const conditions = (r: FleetRun) => `processes ran their schedule up to ${r.lagMs.toFixed(0)} ms late; ${r.skipped} summaries skipped for lack of fresh input`;

function counts(metric: 'opsPerRound' | 'bytesPerRound'): BenchCase {
  let notes: string[] = [];
  return {
    name: `peat MQTT: ${metric === 'opsPerRound' ? 'replication ops' : 'link bytes'} per round at 24 nodes in ${PROCESSES} processes through Mosquitto, hierarchical vs full replication (${ROUNDS} rounds of 1 s)`,
    unit: metric === 'opsPerRound' ? 'ops/round' : 'B/round',
    higherIsBetter: false,
    repetitions: 1,
    setup: async () => void (await acquire()),
    teardown: release,
    async ours() {
      const [h, f] = [await fleet(24, true), await fleet(24, false)];
      notes = [`hierarchical: ${conditions(h)}; full replication: ${conditions(f)}`];
      return h[metric];
    },
    baseline: async () => (await fleet(24, false))[metric],
    details: () => ({ notes }),
  };
}

const HOPS: readonly [Hop, string][] = [
  ['nodeToSquad', 'node → squad leader'],
  ['squadToPlatoon', 'squad → platoon leader'],
  ['platoonToCompany', 'platoon → company leader'],
];

function latency(hop: readonly [Hop, string], q: number): BenchCase {
  let notes: string[] = [];
  return {
    name: `peat MQTT B3: ${hop[1]} latency p${q * 100} at 48 nodes in ${PROCESSES} processes (vs one raw mqtt.js QoS 1 publish → delivery, same broker)`,
    unit: 'ms',
    higherIsBetter: false,
    repetitions: 1,
    setup: async () => void (await acquire()),
    teardown: release,
    async ours() {
      const run = await fleet(48, true);
      const s = run.latency[hop[0]];
      if (s.length === 0) throw new Error(`no ${hop[1]} deliveries were measured`);
      notes = [`${s.length} deliveries over ${ROUNDS} rounds (sender's sync engine, broker, receiver's merge; wall clock shared by the processes, 1 ms resolution); ${conditions(run)}`];
      return quantile(s, q);
    },
    baseline: async () => quantile(await rawHops(), q),
    details: () => ({ notes }),
  };
}

const rss: BenchCase = {
  name: `peat MQTT B5: resident set growth per node of the ${PROCESSES} node processes at 24 nodes, hierarchical vs full replication`,
  unit: 'KiB',
  higherIsBetter: false,
  repetitions: 1,
  setup: async () => void (await acquire()),
  teardown: release,
  ours: async () => (await fleet(24, true)).rssPerNodeBytes / 1024,
  baseline: async () => (await fleet(24, false)).rssPerNodeBytes / 1024,
};

export default [counts('opsPerRound'), counts('bytesPerRound'), ...HOPS.flatMap((h) => [0.5, 0.9, 0.99].map((q) => latency(h, q))), rss];
