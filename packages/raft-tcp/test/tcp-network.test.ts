// SPDX-License-Identifier: Apache-2.0
// Three Raft members on direct TCP (and mutual TLS) peer streams with file WALs and the KV service on a memory bus:
// elections, replication, failover; connections and messages bound to their member; drops reported.
import { afterEach, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import { generateNodeCertificates, waitFor } from '@ecps/testkit';
import type { RaftNode } from '@ecps/raft';
import { RaftMessage, RaftMessageType } from '@ecps/proto/ext/v1';
import { tcpRaftNetwork } from '../src/tcp-network';
import { cleanup, cluster, enc, ids } from './cluster';

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('tcpRaftNetwork', () => {
  it('elects, replicates and fails over on direct peer streams', async () => {
    const c = await cluster();
    await waitFor(() => [...c.members.values()].some((n) => n.isLeader()), 'a leader');
    for (let i = 0; i < 120; i++) await c.client.put(`k${i}`, enc(`v${i}`));
    const leader = [...c.members.values()].find((n) => n.isLeader()) as RaftNode;
    await (c.stops.get(leader.id) as () => Promise<void>)();
    for (let i = 120; i < 160; i++) await c.client.put(`k${i}`, enc(`v${i}`));
    expect(new TextDecoder().decode((await c.client.get('k159')).value)).toBe('v159');
    // the old leader comes back, reconnects and catches up (through a snapshot: the log was compacted meanwhile)
    await c.start(leader.id);
    const back = c.members.get(leader.id) as RaftNode;
    const target = Math.max(...[...c.members.values()].map((n) => n.status().commit));
    await waitFor(() => back.status().applied >= target, 'catch-up');
    // while it was down, messages to it were dropped and counted
    expect(c.drops.some((d) => d['direction'] === 'out' && d['reason'] === 'UNAVAILABLE')).toBe(true);
  }, 60_000);

  it('refuses connections and messages that are not from the member they name', async () => {
    const c = await cluster();
    await waitFor(() => [...c.members.values()].some((n) => n.isLeader()), 'a leader');
    const term = (c.members.get('n2') as RaftNode).status().term;
    const [host, port] = (c.peers['n2'] as string).split(':') as [string, string];
    const socket = connect({ host, port: Number(port) });
    cleanup.push(() => void socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    const frame = (m: Parameters<typeof RaftMessage.fromPartial>[0]) => {
      const body = RaftMessage.encode(RaftMessage.fromPartial({ clusterId: 'tcp', ...m })).finish();
      const out = Buffer.alloc(4 + body.length);
      out.writeUInt32BE(body.length);
      out.set(body, 4);
      return out;
    };
    // hello as n3, then a heartbeat in n1's name with a higher term: dropped
    socket.write(frame({ type: RaftMessageType.RAFT_MESSAGE_TYPE_UNSPECIFIED, from: 'n3', to: 'n2' }));
    socket.write(frame({ type: RaftMessageType.RAFT_HEARTBEAT, from: 'n1', to: 'n2', term: BigInt(term + 7) }));
    await waitFor(() => c.drops.some((d) => d['reason'] === 'WRONG_SENDER'), 'the forged message dropped');
    expect((c.members.get('n2') as RaftNode).status().term).toBe(term);
    // an oversize frame ends the connection
    const closed = new Promise((r) => socket.once('close', r));
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(64 * 1024 * 1024);
    socket.write(huge);
    await closed;
    expect(c.drops.some((d) => d['reason'] === 'FRAME_TOO_LARGE')).toBe(true);
  }, 30_000);

  it('with mutual TLS, a member can only speak as the name in its certificate', async () => {
    const certs = generateNodeCertificates(ids);
    const c = await cluster({ tls: (id) => ({ ...(certs.nodes[id] as { cert: string; key: string }), ca: certs.ca }) });
    await waitFor(() => [...c.members.values()].some((n) => n.isLeader()), 'a leader');
    await c.client.put('secure', enc('yes'));
    // n3's own certificate, presented with a hello claiming to be n1: refused
    const impostor = tcpRaftNetwork({ nodeId: 'n1', clusterId: 'tcp', listen: { host: '127.0.0.1', port: 0 }, peers: { n2: c.peers['n2'] as string }, tls: { ...(certs.nodes['n3'] as { cert: string; key: string }), ca: certs.ca } });
    await impostor.start(() => undefined);
    cleanup.push(() => impostor.close());
    const term = (c.members.get('n2') as RaftNode).status().term;
    impostor.send([{ type: 'heartbeat', from: 'n1', to: 'n2', term: term + 9, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }]);
    await waitFor(() => c.drops.some((d) => d['reason'] === 'UNAUTHENTICATED'), 'the impostor refused');
    expect((c.members.get('n2') as RaftNode).status().term).toBe(term);
    // a certificate from another CA does not even get a connection
    const rogue = tcpRaftNetwork({ nodeId: 'n1', clusterId: 'tcp', listen: { host: '127.0.0.1', port: 0 }, peers: { n2: c.peers['n2'] as string }, tls: { ...certs.rogue, ca: certs.ca } });
    await rogue.start(() => undefined);
    cleanup.push(() => rogue.close());
    rogue.send([{ type: 'heartbeat', from: 'n1', to: 'n2', term: term + 9, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }]);
    await new Promise((r) => setTimeout(r, 300));
    expect((c.members.get('n2') as RaftNode).status().term).toBe(term);
    expect(new TextDecoder().decode((await c.client.get('secure')).value)).toBe('yes');
  }, 60_000);
});
