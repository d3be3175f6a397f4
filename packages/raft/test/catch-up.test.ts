// SPDX-License-Identifier: Apache-2.0
// A follower is killed, 50 MiB of writes and several snapshots happen without it, and it comes back: the leader
// must stream it a snapshot of about 50 MiB (fifty times the transport's message limit) in chunks, then the log
// tail, until its store is identical. Three member processes over a real Mosquitto and over gRPC.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
const ids = ['c1', 'c2', 'c3'];
const VALUE = 64 * 1024;
const WRITES = 800; // 50 MiB
const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-catchup-'));

let broker: MosquittoHandle | undefined;
let router: GrpcBusServer | undefined;
let client: Transport | undefined;
const procs = new Map<string, NodeScriptHandle>();

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

interface Status {
  event: string;
  applied?: number;
  digest?: string;
  leader?: string;
  term?: number;
}
const parse = (line: string) => JSON.parse(line) as Status;

function leaderOf(): string | undefined {
  let best: Status | undefined;
  for (const p of procs.values()) for (const s of p.lines.map(parse)) if (s.event === 'leader' && s.leader && (!best || (s.term ?? 0) > (best.term ?? 0))) best = s;
  return best?.leader;
}

describe.each(['mqtt', 'grpc'] as const)('catch-up over %s', (kind) => {
  afterAll(cleanup);
  it('a follower kept down through 50 MiB of writes and several snapshots rejoins and catches up', async () => {
    let url: string;
    if (kind === 'mqtt') {
      broker = await startMosquitto();
      url = broker.url;
    } else {
      router = await grpcBusServer({ host: '127.0.0.1', port: 0 });
      url = router.address;
    }
    const start = async (id: string) => {
      // ticks of 100 ms (the default; elections after 1-2 s): at a load average of 20-30 on two cores, a member that
      // serializes a 50 MiB snapshot stalls for longer than the 0.5-1 s election timeout of 50 ms ticks, and the
      // leadership churn this causes outlasts the writers' deadline. The catch-up proven is the same.
      const cfg = { id, members: ids, transport: kind, url, dir: join(dir, kind, id), clusterId: 'catchup', tickMs: 100, snapshotEvery: 100, statusEveryMs: 400 };
      const p = await startNodeScript(join(here, 'fixtures', 'kv-member.ts'), [JSON.stringify(cfg)]);
      procs.set(id, p);
      await p.waitForLine((l) => l.includes('"ready"'), 30_000);
    };
    for (const id of ids) await start(id);
    client = kind === 'mqtt' ? mqttTransport({ url, nodeId: 'writer' }) : grpcTransport({ target: url, nodeId: 'writer' });
    await client.connect();
    const kv = new KvClient({ transport: client, clusterId: 'catchup', members: ids, attemptTimeoutMs: 3_000, deadlineMs: 60_000 });
    await kv.put('warm-up', new Uint8Array(1));
    const leader = leaderOf() as string;
    const follower = ids.find((id) => id !== leader) as string;
    await (procs.get(follower) as NodeScriptHandle).kill9();
    procs.delete(follower);

    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < WRITES; i = next++) await kv.put(`blob-${i}`, new Uint8Array(VALUE).fill(i % 251));
      }),
    );
    await start(follower);
    // the follower catches up: same applied index and the same store digest as the others
    const deadline = Date.now() + 180_000;
    const latest = () => ids.map((id) => [...(procs.get(id)?.lines ?? [])].map(parse).filter((s) => s.digest).at(-1));
    while (Date.now() < deadline) {
      const l = latest();
      if (l.every((s) => s && s.applied === l[0]?.applied && s.digest === l[0]?.digest)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const l = latest();
    expect(l.map((s) => s?.digest)).toEqual([l[0]?.digest, l[0]?.digest, l[0]?.digest]);
    expect(l[0]?.applied).toBeGreaterThan(WRITES);
    // it came back through a snapshot: the leader had compacted its log far past where the follower stopped
    const snaps = readdirSync(join(dir, kind, follower)).filter((n) => n.startsWith('snap-')).map((n) => parseInt(n.slice(5, 21), 16));
    expect(Math.max(...snaps)).toBeGreaterThan(WRITES / 2);
    expect((await kv.get('blob-799')).value?.length).toBe(VALUE);
    await kv.close();
  }, 400_000);
});
