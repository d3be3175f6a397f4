// SPDX-License-Identifier: Apache-2.0
// A 3-member @ecps/raft KV cluster (separate processes, file WAL with one fsync per Ready, MQTT via Mosquitto)
// against a 3-member etcd cluster, both on loopback, driven by the same client process with the same load:
// puts of 64-byte values from 1 or 64 concurrent clients. Figures: committed writes/s and latency p50/p99.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import type { Transport } from '@ecps/core';
import { KvClient } from '@ecps/raft';
import { startEtcdCluster, startMosquitto, startNodeScript } from '@ecps/testkit/launchers';
import type { EtcdClusterHandle, MosquittoHandle, NodeScriptHandle } from '@ecps/testkit/launchers';
import { mqttTransport } from '@ecps/transport-mqtt';
import { quantile, type BenchCase } from '../harness';

const here = dirname(fileURLToPath(import.meta.url));
const memberScript = join(here, '..', '..', '..', 'packages', 'raft', 'test', 'fixtures', 'kv-member.ts');
const ids = ['b1', 'b2', 'b3'];
const value = new Uint8Array(64).fill(7);
const DURATION_MS = 2_000;

interface Env {
  broker: MosquittoHandle;
  members: NodeScriptHandle[];
  client: Transport;
  kvClients: KvClient[];
  etcd: EtcdClusterHandle;
  etcdClient: Etcd3;
  dir: string;
}
let env: Env | undefined;

async function setup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-bench-'));
  // Mosquitto leaves Nagle on by default: 40 ms stalls against delayed ACKs on small request/reply messages
  const broker = await startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
  const members: NodeScriptHandle[] = [];
  for (const id of ids) {
    const cfg = { id, members: ids, url: broker.url, dir: join(dir, id), clusterId: 'bench', tickMs: 50, fsync: 'always' };
    members.push(await startNodeScript(memberScript, [JSON.stringify(cfg)]));
  }
  for (const m of members) await m.waitForLine((l) => l.includes('"ready"'), 30_000);
  const client = mqttTransport({ url: broker.url, nodeId: 'bench-client' });
  await client.connect();
  const kvClients = Array.from({ length: 64 }, () => new KvClient({ transport: client, clusterId: 'bench', members: ids, attemptTimeoutMs: 2_000 }));
  const etcd = await startEtcdCluster(3);
  const etcdClient = new Etcd3({ hosts: [...etcd.endpoints] });
  // both clusters elected and answering before measuring
  await kvClients[0]?.put('warm', value);
  await etcdClient.put('warm').value(Buffer.from(value));
  env = { broker, members, client, kvClients, etcd, etcdClient, dir };
}

async function teardown(): Promise<void> {
  if (!env) return;
  const e = env;
  env = undefined;
  e.etcdClient.close();
  await e.etcd.stop();
  await e.client.close();
  for (const m of e.members) await m.stop();
  await e.broker.stop();
  rmSync(e.dir, { recursive: true, force: true });
}

/** Runs `clients` loops of `put` for DURATION_MS; returns writes/s and per-write latencies (ms). */
async function load(clients: number, put: (client: number, key: string) => Promise<unknown>): Promise<{ rate: number; latencies: number[] }> {
  const latencies: number[] = [];
  const end = performance.now() + DURATION_MS;
  const start = performance.now();
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

const ours = (clients: number) => load(clients, (c, key) => (env as Env).kvClients[c]!.put(key, value));
const etcd = (clients: number) => load(clients, (_c, key) => (env as Env).etcdClient.put(key).value(Buffer.from(value)).exec());

function cases(clients: number): BenchCase[] {
  const label = `raft KV 3 processes (MQTT, fsync) vs etcd 3 members, ${clients} client${clients > 1 ? 's' : ''}`;
  return [
    { name: `${label}: committed writes/s`, unit: 'ops/s', higherIsBetter: true, repetitions: 3, setup, teardown, ours: async () => (await ours(clients)).rate, baseline: async () => (await etcd(clients)).rate },
    { name: `${label}: put latency p50`, unit: 'ms', higherIsBetter: false, repetitions: 3, setup, teardown, ours: async () => quantile((await ours(clients)).latencies, 0.5), baseline: async () => quantile((await etcd(clients)).latencies, 0.5) },
    { name: `${label}: put latency p99`, unit: 'ms', higherIsBetter: false, repetitions: 3, setup, teardown, ours: async () => quantile((await ours(clients)).latencies, 0.99), baseline: async () => quantile((await etcd(clients)).latencies, 0.99) },
  ];
}

export default [...cases(1), ...cases(64)];
