// SPDX-License-Identifier: Apache-2.0
// RaftNode + KV service over a real ECPS transport (in-process memory bus) with file WALs: leader failover,
// exactly-once retries, restart from disk.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { waitFor } from '@ecps/testkit';
import type { Subscription, Transport } from '@ecps/core';
import { FileStorage } from './file-storage';
import { KvClient } from './kv-client';
import { serveKv } from './kv-service';
import { KvStateMachine } from './kv-state-machine';
import { RaftNode } from './raft-node';
import { transportNetwork } from './transport-network';

const ids = ['n1', 'n2', 'n3'];
const peers = { voters: ids, learners: [] };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

interface Member {
  node: RaftNode;
  store: KvStateMachine;
  transport: Transport;
  kv: Subscription;
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function startMember(bus: MemoryBus, id: string, dir: string): Promise<Member> {
  const transport = memoryTransport({ nodeId: id, bus });
  await transport.connect();
  const store = new KvStateMachine();
  const node = await RaftNode.start({
    id,
    peers,
    storage: new FileStorage({ dir: join(dir, id) }),
    stateMachine: store,
    network: transportNetwork({ transport, clusterId: 'test', nodeId: id }),
    tickMs: 10,
    snapshotEvery: 20,
  });
  const kv = await serveKv({ transport, clusterId: 'test', node, store });
  return { node, store, transport, kv };
}

async function stopMember(m: Member): Promise<void> {
  await m.kv.unsubscribe();
  await m.node.close();
  await m.transport.close();
}

describe('RaftNode over a Transport', () => {
  it('elects a leader, survives the loss of the leader without losing acknowledged writes, and restarts from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const bus = new MemoryBus();
    const members = new Map<string, Member>();
    for (const id of ids) members.set(id, await startMember(bus, id, dir));
    cleanup.push(async () => {
      for (const m of members.values()) await stopMember(m);
    });
    const leaderOf = () => [...members.values()].find((m) => m.node.isLeader());
    await waitFor(() => leaderOf() !== undefined, 'a leader');

    const clientTransport = memoryTransport({ nodeId: 'client', bus });
    await clientTransport.connect();
    cleanup.push(() => clientTransport.close());
    const client = new KvClient({ transport: clientTransport, clusterId: 'test', members: ids, attemptTimeoutMs: 300 });

    const acked: string[] = [];
    for (let i = 0; i < 30; i++) {
      await client.put(`k${i}`, enc(`v${i}`));
      acked.push(`k${i}`);
    }
    expect(await client.compareAndSet('k0', enc('v0'), enc('swapped'))).toBe(true);
    expect(await client.compareAndSet('k0', enc('v0'), enc('again'))).toBe(false);

    // the leader goes away; writes continue through the new leader
    const old = leaderOf() as Member;
    members.delete(old.node.id);
    await stopMember(old);
    for (let i = 30; i < 60; i++) {
      await client.put(`k${i}`, enc(`v${i}`));
      acked.push(`k${i}`);
    }
    expect(leaderOf()?.node.id).not.toBe(old.node.id);
    for (const k of acked) expect(dec((await client.get(k)).value)).toBe(k === 'k0' ? 'swapped' : `v${k.slice(1)}`);
    expect(await client.delete('k1')).toBe(true);
    expect((await client.get('k1')).value).toBeUndefined();

    // the old leader restarts from its WAL and snapshot and catches up
    const back = await startMember(bus, old.node.id, dir);
    members.set(old.node.id, back);
    const target = leaderOf()?.node.status().commit ?? 0;
    await waitFor(() => back.node.status().applied >= target, 'the restarted node to catch up');
    expect(dec(back.store.read('k59'))).toBe('v59');
    expect(back.store.read('k1')).toBeUndefined();
  });

  it('hands leadership over on request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const bus = new MemoryBus();
    const members = await Promise.all(ids.map((id) => startMember(bus, id, dir)));
    cleanup.push(async () => {
      for (const m of members) await stopMember(m);
    });
    await waitFor(() => members.some((m) => m.node.isLeader()), 'a leader');
    const leader = members.find((m) => m.node.isLeader()) as Member;
    const target = members.find((m) => m !== leader) as Member;
    leader.node.transferLeadership(target.node.id);
    await waitFor(() => target.node.isLeader(), 'the transfer');
    expect(leader.node.isLeader()).toBe(false);
  });
});
