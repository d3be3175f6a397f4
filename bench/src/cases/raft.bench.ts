// SPDX-License-Identifier: Apache-2.0
// A 3-member @ecps/raft KV cluster (separate processes, file WAL fsynced on every commit, Raft traffic on direct TCP
// peer streams) against a 3-member etcd cluster, both on loopback, driven by the same client process with the same
// load: puts of 64-byte values from 1, 64 or 256 concurrent clients. Our clients reach the members either directly
// over TCP (as etcd's do) or through Mosquitto (the ECPS broker path, one reply subscription per client).
// Figures: committed writes/s and put latency p50/p99.
// RAFT_BENCH_PROFILE=<dir> makes each member write a CPU profile (<dir>/<id>.cpuprofile) when it stops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import type { Transport } from '@ecps/core';
import { KvClient } from '@ecps/raft';
import { tcpKvChannel } from '@ecps/raft-tcp';
import { freePort, startEtcdCluster, startMosquitto, startNodeScript } from '@ecps/testkit/launchers';
import type { EtcdClusterHandle, MosquittoHandle, NodeScriptHandle } from '@ecps/testkit/launchers';
import { mqttTransport } from '@ecps/transport-mqtt';
import { quantile, type BenchCase } from '../harness';

const here = dirname(fileURLToPath(import.meta.url));
const memberScript = join(here, '..', 'fixtures', 'raft-member.ts');
const ids = ['b1', 'b2', 'b3'];
const value = new Uint8Array(64).fill(7);
const DURATION_MS = 2_000;
const CLIENTS = [1, 64, 256];
type Path = 'tcp' | 'mqtt';

interface Env {
  broker: MosquittoHandle;
  members: NodeScriptHandle[];
  client: Transport;
  /** Per path: one KvClient per concurrent client. */
  kvClients: Record<Path, KvClient[]>;
  etcd: EtcdClusterHandle;
  etcdClient: Etcd3;
  dir: string;
}
let env: Env | undefined;
let casesLeft = 0;

/** One environment for every case of this file: started by the first, stopped after the last. */
async function setup(): Promise<void> {
  if (env) return;
  const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-bench-'));
  // Mosquitto leaves Nagle on by default: 40 ms stalls against delayed ACKs on small request/reply messages
  const broker = await startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
  const peers = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, `127.0.0.1:${await freePort()}`] as const)));
  const kv = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, `127.0.0.1:${await freePort()}`] as const)));
  const profile = process.env['RAFT_BENCH_PROFILE'];
  const members: NodeScriptHandle[] = [];
  for (const id of ids) {
    const cfg = { id, members: ids, url: broker.url, dir: join(dir, id), clusterId: 'bench', peers, kv };
    members.push(await startNodeScript(memberScript, [JSON.stringify(cfg)], profile ? { RAFT_BENCH_PROFILE: profile } : {}));
  }
  for (const m of members) await m.waitForLine((l) => l.includes('"ready"'), 30_000);
  const client = mqttTransport({ url: broker.url, nodeId: 'bench-client' });
  await client.connect();
  const n = Math.max(...CLIENTS);
  const kvClients: Record<Path, KvClient[]> = {
    mqtt: Array.from({ length: n }, () => new KvClient({ transport: client, clusterId: 'bench', members: ids, attemptTimeoutMs: 2_000 })),
    tcp: Array.from({ length: n }, () => new KvClient({ channel: tcpKvChannel({ members: kv }), members: ids, attemptTimeoutMs: 2_000 })),
  };
  const etcd = await startEtcdCluster(3);
  const etcdClient = new Etcd3({ hosts: [...etcd.endpoints] });
  // both clusters elected and answering before measuring; every client has its session
  await Promise.all([...kvClients.mqtt, ...kvClients.tcp].map((c, i) => c.put(`warm-${i}`, value)));
  await etcdClient.put('warm').value(Buffer.from(value));
  env = { broker, members, client, kvClients, etcd, etcdClient, dir };
}

async function teardown(): Promise<void> {
  if (--casesLeft > 0 || !env) return;
  const e = env;
  env = undefined;
  e.etcdClient.close();
  await e.etcd.stop();
  for (const c of [...e.kvClients.mqtt, ...e.kvClients.tcp]) await c.close();
  await e.client.close();
  for (const m of e.members) await m.stop();
  await e.broker.stop();
  rmSync(e.dir, { recursive: true, force: true });
}

interface Run {
  rate: number;
  latencies: number[];
}

/** Runs `clients` loops of `put` for DURATION_MS; returns writes/s and per-write latencies (ms). */
async function load(clients: number, put: (client: number, key: string) => Promise<unknown>): Promise<Run> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + DURATION_MS;
  let n = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        await put(c, `k${c}-${i}`);
        latencies.push(performance.now() - t);
        n++;
      }
    }),
  );
  return { rate: (n * 1000) / (performance.now() - start), latencies };
}

const ours = (path: Path, clients: number) => load(clients, (c, key) => (env as Env).kvClients[path][c]!.put(key, value));
const etcd = (clients: number) => load(clients, (_c, key) => (env as Env).etcdClient.put(key).value(Buffer.from(value)).exec());

function cases(path: Path, clients: number): BenchCase[] {
  const label = `raft KV 3 processes (TCP peers, ${path === 'tcp' ? 'TCP' : 'MQTT'} clients, fsync) vs etcd 3 members, ${clients} client${clients > 1 ? 's' : ''}`;
  const metric = (name: string, unit: string, higherIsBetter: boolean, pick: (r: Run) => number): BenchCase => ({
    name: `${label}: ${name}`,
    unit,
    higherIsBetter,
    repetitions: 3,
    setup,
    teardown,
    ours: async () => pick(await ours(path, clients)),
    baseline: async () => pick(await etcd(clients)),
  });
  return [
    metric('committed writes/s', 'ops/s', true, (r) => r.rate),
    metric('put latency p50', 'ms', false, (r) => quantile(r.latencies, 0.5)),
    metric('put latency p99', 'ms', false, (r) => quantile(r.latencies, 0.99)),
  ];
}

const all = (['tcp', 'mqtt'] as const).flatMap((path) => CLIENTS.flatMap((clients) => cases(path, clients)));
// the runner selects cases by the names on its command line (see run.ts): the last selected one stops the clusters
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
casesLeft = all.filter((c) => filters.length === 0 || filters.some((f) => c.name.toLowerCase().includes(f.toLowerCase()))).length;
export default all;
