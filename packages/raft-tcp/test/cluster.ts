// SPDX-License-Identifier: Apache-2.0
// Three Raft members with file WALs on direct TCP peer streams, the KV service on a memory bus and on TCP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Meter } from '@opentelemetry/api';
import { freePort } from '@ecps/testkit';
import { FileStorage, KvClient, KvStateMachine, RaftNode, serveKv } from '@ecps/raft';
import type { KvOperation } from '@ecps/raft';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { serveKvTcp } from '../src/kv-tcp';
import { tcpRaftNetwork } from '../src/tcp-network';
import type { TcpTlsOptions } from '../src/framing';

export const ids = ['n1', 'n2', 'n3'];
export const enc = (s: string) => new TextEncoder().encode(s);
/** Run (in reverse) after each test. */
export const cleanup: (() => Promise<void> | void)[] = [];

export function recordingMeter(into: Record<string, unknown>[]): Meter {
  return { createCounter: () => ({ add: (_n: number, a: Record<string, unknown>) => into.push(a) }) } as unknown as Meter;
}

export interface ClusterOptions {
  tls?: (id: string) => TcpTlsOptions;
  authorize?: (client: string, op: KvOperation, key: string) => boolean;
}

export async function cluster({ tls, authorize }: ClusterOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-tcp-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const ports = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await freePort()] as const)));
  const kvPorts = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await freePort()] as const)));
  const peers = Object.fromEntries(ids.map((id) => [id, `127.0.0.1:${ports[id]}`]));
  const kvAddresses = Object.fromEntries(ids.map((id) => [id, `127.0.0.1:${kvPorts[id]}`]));
  const bus = new MemoryBus();
  const drops: Record<string, unknown>[] = [];
  const members = new Map<string, RaftNode>();
  const start = async (id: string) => {
    // each part is released by stop() as soon as it exists, so a start that fails half-way (a port taken) leaks nothing
    const parts: { close(): Promise<unknown> }[] = [];
    let node: RaftNode | undefined;
    const stop = async () => {
      if (node && members.get(id) === node) members.delete(id);
      for (const part of parts.splice(0).reverse()) await part.close();
    };
    cleanup.push(stop);
    const transport = memoryTransport({ nodeId: id, bus });
    parts.push(transport);
    const store = new KvStateMachine();
    node = await RaftNode.start({
      id,
      peers: { voters: ids, learners: [] },
      storage: new FileStorage({ dir: join(dir, id) }),
      stateMachine: store,
      network: tcpRaftNetwork({ nodeId: id, clusterId: 'tcp', listen: { host: '127.0.0.1', port: ports[id] as number }, peers, meter: recordingMeter(drops), ...(tls ? { tls: tls(id) } : {}) }),
      tickMs: 20,
      snapshotEvery: 50,
    });
    parts.push(node);
    const kv = await serveKv({ transport, clusterId: 'tcp', node, store });
    parts.push({ close: () => kv.unsubscribe() });
    parts.push(await serveKvTcp({ node, store, listen: { host: '127.0.0.1', port: kvPorts[id] as number }, ...(tls ? { tls: tls(id) } : {}), ...(authorize ? { authorize } : {}) }));
    members.set(id, node);
    return stop;
  };
  const stops = new Map<string, () => Promise<void>>();
  for (const id of ids) stops.set(id, await start(id));
  const client = new KvClient({ transport: memoryTransport({ nodeId: 'app', bus }), clusterId: 'tcp', members: ids, attemptTimeoutMs: 500 });
  cleanup.push(() => client.close());
  return { members, stops, start, client, drops, peers, kvAddresses };
}

