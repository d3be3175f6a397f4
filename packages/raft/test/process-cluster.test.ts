// SPDX-License-Identifier: Apache-2.0
// Three members as separate Node processes, over MQTT (a real Mosquitto) and over gRPC (the bus router): kill -9
// the leader under load; a new leader takes over and every acknowledged write is still there.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto, startNodeScript } from '@ecps/testkit';
import type { MosquittoHandle, NodeScriptHandle } from '@ecps/testkit';
import { grpcBusServer, grpcTransport } from '@ecps/transport-grpc';
import type { GrpcBusServer } from '@ecps/transport-grpc';
import { mqttTransport } from '@ecps/transport-mqtt';
import type { Transport } from '@ecps/core';
import { KvClient } from '../src/kv-client';

const here = dirname(fileURLToPath(import.meta.url));
const ids = ['p1', 'p2', 'p3'];
const enc = (s: string) => new TextEncoder().encode(s);

let broker: MosquittoHandle | undefined;
let router: GrpcBusServer | undefined;
const procs = new Map<string, NodeScriptHandle>();
let client: Transport | undefined;
const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-procs-'));

async function cleanup(): Promise<void> {
  await client?.close();
  client = undefined;
  for (const p of procs.values()) await p.stop();
  procs.clear();
  await broker?.stop();
  broker = undefined;
  await router?.close();
  router = undefined;
}

afterAll(async () => {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function currentLeader(): string | undefined {
  let best: { leader: string; term: number } | undefined;
  for (const p of procs.values()) {
    for (const line of p.lines) {
      const ev = JSON.parse(line) as { event: string; leader?: string; term?: number };
      if (ev.event === 'leader' && ev.leader && (!best || (ev.term ?? 0) > best.term)) best = { leader: ev.leader, term: ev.term ?? 0 };
    }
  }
  return best?.leader;
}

describe.each(['mqtt', 'grpc'] as const)('Raft KV cluster of separate processes over %s', (kind) => {
  afterAll(cleanup);
  it('elects a new leader after kill -9 of the leader under load and loses no acknowledged write', async () => {
    let url: string;
    if (kind === 'mqtt') {
      broker = await startMosquitto();
      url = broker.url;
    } else {
      router = await grpcBusServer({ host: '127.0.0.1', port: 0 });
      url = router.address;
    }
    for (const id of ids) {
      const cfg = { id, members: ids, transport: kind, url, dir: join(dir, kind, id), clusterId: 'proc', tickMs: 50 };
      const p = await startNodeScript(join(here, 'fixtures', 'kv-member.ts'), [JSON.stringify(cfg)]);
      procs.set(id, p);
    }
    for (const p of procs.values()) await p.waitForLine((l) => l.includes('"ready"'), 30_000);
    client = kind === 'mqtt' ? mqttTransport({ url, nodeId: 'load-client' }) : grpcTransport({ target: url, nodeId: 'load-client' });
    await client.connect();

    const acked = new Set<string>();
    let failed = 0;
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      const kv = new KvClient({ transport: client as Transport, clusterId: 'proc', members: ids, attemptTimeoutMs: 500, deadlineMs: 20_000 });
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        try {
          await kv.put(key, enc(key));
          acked.add(key);
        } catch {
          failed++;
        }
      }
    });
    // load for a while, then kill the leader
    const t0 = Date.now();
    while (acked.size < 60 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    const victim = currentLeader() as string;
    expect(ids).toContain(victim);
    const before = acked.size;
    await (procs.get(victim) as NodeScriptHandle).kill9();
    procs.delete(victim);
    const t1 = Date.now();
    while (acked.size < before + 60 && Date.now() - t1 < 30_000) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(writers);

    const newLeader = currentLeader();
    expect(newLeader).toBeDefined();
    expect(newLeader).not.toBe(victim);
    expect(acked.size).toBeGreaterThan(before + 30);
    // every acknowledged write reads back through the new leader
    const reader = new KvClient({ transport: client, clusterId: 'proc', members: ids.filter((i) => i !== victim) });
    let lost = 0;
    for (const key of acked) {
      const r = await reader.get(key);
      if (r.value === undefined || new TextDecoder().decode(r.value) !== key) lost++;
    }
    console.log(`${kind} process cluster: ${acked.size} acknowledged writes (${before} before kill -9 of ${victim}), ${failed} gave up, ${lost} lost; new leader ${newLeader}`);
    expect(lost).toBe(0);
  }, 120_000);
});
