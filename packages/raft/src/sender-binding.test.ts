// SPDX-License-Identifier: Apache-2.0
// With the trust layer on (AUTHENTICATED: every event signed, its source bound to the signer), a Raft message is
// accepted only from the member it names in `from`, and the KV service serves only authorized clients, each in its
// own session.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Meter } from '@opentelemetry/api';
import { nodeSource } from '@ecps/core';
import type { Transport } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { IdentitySigner, KeyDirectory, SoftwareKeyProvider, secureTransport } from '@ecps/trust';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { FileStorage } from './file-storage';
import { KvClient } from './kv-client';
import { serveKv } from './kv-service';
import { KvStateMachine } from './kv-state-machine';
import { encodeRaftMessage } from './message-codec';
import { RaftNode } from './raft-node';
import { RAFT_EVENT_TYPE, raftTopic, transportNetwork } from './transport-network';
import type { Message } from './types';

const ids = ['n1', 'n2', 'n3'];
const enc = (s: string) => new TextEncoder().encode(s);
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A meter that records every counter increment. */
function recordingMeter(into: Record<string, unknown>[]): Meter {
  return { createCounter: () => ({ add: (_n: number, attributes: Record<string, unknown>) => into.push(attributes) }) } as unknown as Meter;
}

async function fleet() {
  const bus = new MemoryBus();
  const keys = new KeyDirectory();
  const node = async (id: string): Promise<Transport> => {
    const provider = new SoftwareKeyProvider();
    await provider.generateKey(`${id}-k`, 'ed25519');
    const identity = { id, keyId: `${id}-k`, provider };
    keys.add(await new IdentitySigner(identity).trustedKey());
    const t = secureTransport(memoryTransport({ nodeId: id, bus }), { identity, keys, level: 'authenticated', confidentiality: false });
    await t.connect();
    cleanup.push(() => t.close());
    return t;
  };
  return { node };
}

describe('sender binding with the trust layer', () => {
  it('drops Raft messages that name another member as their sender, and serves only authorized KV clients', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-trust-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const f = await fleet();
    const drops: Record<string, unknown>[] = [];
    const nodes: RaftNode[] = [];
    for (const id of ids) {
      const transport = await f.node(id);
      const store = new KvStateMachine();
      const node = await RaftNode.start({
        id,
        peers: { voters: ids, learners: [] },
        storage: new FileStorage({ dir: join(dir, id) }),
        stateMachine: store,
        network: transportNetwork({ transport, clusterId: 'secure', nodeId: id, meter: recordingMeter(drops) }),
        tickMs: 20,
      });
      nodes.push(node);
      const kv = await serveKv({ transport, clusterId: 'secure', node, store, authorize: (client, op) => client === 'app' || op === 'get' });
      cleanup.push(async () => {
        await kv.unsubscribe();
        await node.close();
      });
    }
    await waitFor(() => nodes.some((n) => n.isLeader()), 'a leader');
    const leader = nodes.find((n) => n.isLeader()) as RaftNode;
    const follower = nodes.find((n) => n !== leader) as RaftNode;

    // the authorized client writes; an enrolled but unauthorized one is refused
    const app = new KvClient({ transport: await f.node('app'), clusterId: 'secure', members: ids, nodeId: 'app' });
    cleanup.push(() => app.close());
    await app.put('mission', enc('survey'));
    const mallory = await f.node('mallory');
    const intruder = new KvClient({ transport: mallory, clusterId: 'secure', members: ids, nodeId: 'mallory', deadlineMs: 2_000 });
    cleanup.push(() => intruder.close());
    await expect(intruder.put('mission', enc('hijacked'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(new TextDecoder().decode((await intruder.get('mission')).value)).toBe('survey');

    // mallory (enrolled, so its events verify) sends a heartbeat of a higher term in the leader's name
    const forged: Message = {
      type: 'heartbeat', from: leader.id, to: follower.id, term: leader.status().term + 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
    };
    const term = follower.status().term;
    await mallory.publish(raftTopic('secure', follower.id), {
      id: 'forged-1', source: nodeSource('mallory'), type: RAFT_EVENT_TYPE, data: encodeRaftMessage(forged, 'secure'),
    });
    await waitFor(() => drops.some((d) => d['reason'] === 'WRONG_SENDER'), 'the forged message to be dropped');
    expect(follower.status().term).toBe(term);
    // claiming the leader's source instead fails the trust layer's own check: nothing reaches Raft
    await mallory.publish(raftTopic('secure', follower.id), {
      id: 'forged-2', source: nodeSource(leader.id), type: RAFT_EVENT_TYPE, data: encodeRaftMessage(forged, 'secure'),
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(follower.status().term).toBe(term);
    expect((await app.get('mission')).value).toEqual(enc('survey'));
  });

  it('refuses an authorize policy on a transport that does not authenticate senders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-raft-trust-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = memoryTransport({ nodeId: 'n1', bus: new MemoryBus() });
    const store = new KvStateMachine();
    const node = await RaftNode.start({
      id: 'n1',
      peers: { voters: ['n1'], learners: [] },
      storage: new FileStorage({ dir }),
      stateMachine: store,
      network: transportNetwork({ transport, clusterId: 'c', nodeId: 'n1' }),
    });
    cleanup.push(() => node.close());
    await expect(serveKv({ transport, clusterId: 'c', node, store, authorize: () => true })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
