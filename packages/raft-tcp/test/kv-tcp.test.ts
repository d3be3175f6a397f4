// SPDX-License-Identifier: Apache-2.0
// KV clients on direct TCP connections to the members: the same protocol and guarantees as on a transport.
import { afterEach, describe, expect, it } from '@jest/globals';
import { generateNodeCertificates, waitFor } from '@ecps/testkit';
import { KvClient } from '@ecps/raft';
import type { RaftNode } from '@ecps/raft';
import { tcpKvChannel } from '../src/kv-tcp';
import { cleanup, cluster, enc, ids } from './cluster';

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe('KV over direct TCP', () => {
  it('writes exactly once, reads linearizably and follows the leader through a failover', async () => {
    const c = await cluster();
    await waitFor(() => [...c.members.values()].some((n) => n.isLeader()), 'a leader');
    const kv = new KvClient({ channel: tcpKvChannel({ members: c.kvAddresses }), members: ids, attemptTimeoutMs: 500 });
    cleanup.push(() => kv.close());
    // pipelined: 50 writes in flight at once on one session
    await Promise.all(Array.from({ length: 50 }, (_, i) => kv.put(`k${i}`, enc(`v${i}`))));
    expect(await kv.compareAndSet('k0', enc('v0'), enc('swapped'))).toBe(true);
    const leader = [...c.members.values()].find((n) => n.isLeader()) as RaftNode;
    await (c.stops.get(leader.id) as () => Promise<void>)();
    expect(dec((await kv.get('k0')).value)).toBe('swapped');
    await kv.put('after', enc('failover'));
    expect(dec((await kv.get('after')).value)).toBe('failover');
  }, 60_000);

  it('with mutual TLS, a client is the name in its certificate: authorization and session ownership follow it', async () => {
    const certs = generateNodeCertificates([...ids, 'app', 'guest']);
    const tls = (id: string) => ({ ...(certs.nodes[id] as { cert: string; key: string }), ca: certs.ca });
    const c = await cluster({ tls, authorize: (client, op) => client === 'app' || op === 'get' });
    await waitFor(() => [...c.members.values()].some((n) => n.isLeader()), 'a leader');
    const app = new KvClient({ channel: tcpKvChannel({ members: c.kvAddresses, tls: tls('app') }), members: ids });
    const guest = new KvClient({ channel: tcpKvChannel({ members: c.kvAddresses, tls: tls('guest') }), members: ids, deadlineMs: 2_000 });
    cleanup.push(() => app.close(), () => guest.close());
    await app.put('mission', enc('survey'));
    await expect(guest.put('mission', enc('hijack'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(dec((await guest.get('mission')).value)).toBe('survey');
  }, 60_000);
});
