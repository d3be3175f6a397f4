// SPDX-License-Identifier: Apache-2.0
// One OS process of the Peat MQTT benchmark (cases/peat-mqtt.bench.ts): hosts the nodes `i` of the fleet with
// `i % processes === index`, each with its own MQTT connection to the broker, real timers and the same workload as
// the in-memory simulation (@ecps/peat-hierarchy's fleet). Usage:
//   peat-mqtt-child.ts <broker url> <mesh id> <nodes> <index> <processes> <hierarchical|full> <rounds>
// Prints `ready` once every local node found its peers; then waits for the start time (epoch ms) on the MQTT topic
// `bench/peat/<mesh id>/go`, runs one warm-up round and `rounds` measured rounds of 1 s (states at 0 ms, squad
// summaries at 400 ms, platoon summaries at 700 ms), prints `written`, waits for `bench/peat/<mesh id>/stop` (sent
// once every process has written and deliveries settled) and prints `result <json>`: replication ops and link bytes of
// its nodes during the measured rounds, the latency samples of each echelon hop its leaders received (ms, between
// processes on one host's clock), its resident set before and after the fleet, how late it ran its schedule at worst
// and how many summaries it skipped for lack of fresh input (both only on an overloaded machine).
import { connectAsync } from 'mqtt';
import { systemClock } from '@ecps/core';
import { PeatReplica, meshTransport, pubsubLink } from '@ecps/peat';
import type { PeatLink } from '@ecps/peat';
import { echelonHop, planFleet, writeNodeState, writePlatoonSummary, writeSquadSummary, writtenAt } from '@ecps/peat-hierarchy';
import type { FleetPlace } from '@ecps/peat-hierarchy';
import { mqttTransport } from '@ecps/transport-mqtt';

const [url, meshId, nodesArg, indexArg, processesArg, mode, roundsArg] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const rounds = Number(roundsArg);
const plan = planFleet(Number(nodesArg), mode !== 'full');
// spread so that squad, platoon and company leaders sit in different processes and every hop crosses processes
const mine = plan.places.filter((p, i) => (i + p.squad) % Number(processesArg) === Number(indexArg));
// the wall clock every process shares (performance.timeOrigin + now() drifts from it by hundreds of ms per process)
const nowMs = () => Date.now();
const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - nowMs())));

(globalThis as { gc?: () => void }).gc?.();
const rssBefore = process.memoryUsage().rss;
let bytes = 0;
/** Counts every byte this node hands to the broker (frames, heartbeats, announcements). */
function counted(link: PeatLink): PeatLink {
  return {
    nodeId: link.nodeId,
    get maxMessageBytes() {
      return link.maxMessageBytes;
    },
    start: (h) => link.start(h),
    stop: () => link.stop(),
    send: (to, data) => ((bytes += data.length), link.send(to, data)),
    broadcast: (data, scope) => ((bytes += data.length), link.broadcast(data, scope)),
    joinScope: (s) => link.joinScope!(s),
    leaveScope: (s) => link.leaveScope!(s),
  };
}

const latency = { nodeToSquad: [] as number[], squadToPlatoon: [] as number[], platoonToCompany: [] as number[] };
let measuring = false;
const nodes: { place: FleetPlace; replica: PeatReplica; close: () => Promise<void> }[] = [];
for (const place of mine) {
  const mqtt = mqttTransport({ url, nodeId: place.id, whenQueueFull: 'wait' });
  await mqtt.connect();
  const transport = meshTransport({ link: counted(pubsubLink({ transport: mqtt, meshId, nodeId: place.id })), clock: systemClock, scopes: place.scopes });
  const replica = await PeatReplica.open({ transport, clock: systemClock, topology: place.topology });
  replica.observe((e) => {
    if (!measuring || e.origin !== 'remote') return;
    const hop = echelonHop(place, plan, e.collection, e.id);
    if (!hop) return;
    const at = nowMs();
    void replica.get(e.collection, e.id).then((v) => v && latency[hop].push(at - writtenAt(e.collection, v as Record<string, unknown>)));
  });
  await replica.start();
  nodes.push({ place, replica, close: () => mqtt.close() });
}

const control = await connectAsync(url, { protocolVersion: 5 });
const signals = new Map<string, (payload: string) => void>();
const signal = (name: string) => new Promise<string>((resolve) => signals.set(`bench/peat/${meshId}/${name}`, resolve));
control.on('message', (topic, payload) => signals.get(topic)?.(payload.toString()));
const go = signal('go');
const stop = signal('stop');
await control.subscribeAsync([`bench/peat/${meshId}/go`, `bench/peat/${meshId}/stop`], { qos: 1 });
while (!nodes.every((n) => n.replica.peers().length === n.place.expectedPeers)) await new Promise((r) => setTimeout(r, 100));
console.log('ready');
const start = Number(await go);

const ops = () => nodes.reduce((s, n) => s + n.replica.stats.deliveriesWithChanges, 0);
let before = { ops: 0, bytes: 0 };
/** How late the process ran its schedule at worst (a loaded machine), and summaries skipped for lack of fresh input. */
let lag = 0;
let skipped = 0;
for (let r = 0; r <= rounds; r++) {
  const t0 = start + r * 1000;
  await sleepUntil(t0);
  lag = Math.max(lag, nowMs() - t0);
  if (r === 1) {
    before = { ops: ops(), bytes };
    measuring = true;
    lag = nowMs() - t0;
    skipped = 0;
  }
  for (const n of nodes) await writeNodeState(n.replica, n.place, r, nowMs());
  await sleepUntil(t0 + 400);
  lag = Math.max(lag, nowMs() - (t0 + 400));
  for (const n of nodes) if (n.place.leadsSquad && !(await writeSquadSummary(n.replica, plan, n.place.squad, nowMs()))) skipped++;
  await sleepUntil(t0 + 700);
  lag = Math.max(lag, nowMs() - (t0 + 700));
  for (const n of nodes) if (n.place.leadsPlatoon && !(await writePlatoonSummary(n.replica, n.place.platoon, nowMs()))) skipped++;
}
await sleepUntil(start + (rounds + 1) * 1000);
// the parent says stop once every process has written its last round and deliveries had time to settle
console.log('written');
await stop;
measuring = false;
const result = { nodes: nodes.length, ops: ops() - before.ops, bytes: bytes - before.bytes, latency, rssBefore, rssAfter: process.memoryUsage().rss, lagMs: lag, skipped };
console.log(`result ${JSON.stringify(result)}`);
for (const n of nodes) {
  await n.replica.stop();
  await n.close();
}
await control.endAsync();
