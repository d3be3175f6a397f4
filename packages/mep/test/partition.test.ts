// SPDX-License-Identifier: Apache-2.0
// The testkit's NetworkPartition on a real transport (here rather than in the testkit, which must not depend on one).
import { describe, expect, it } from '@jest/globals';
import type { EcpsEvent } from '@ecps/core';
import { NetworkPartition, sleep, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';

const event = (from: string): EcpsEvent => ({ id: `${from}-${Math.random()}`, source: `urn:ecps:${from}`, type: 't', data: new Uint8Array(1) });

describe('NetworkPartition over the memory transport', () => {
  it('drops events and requests across a cut on a real transport', async () => {
    const bus = new MemoryBus();
    const net = new NetworkPartition();
    const a = net.wrap('a', memoryTransport({ nodeId: 'a', bus }));
    const b = net.wrap('b', memoryTransport({ nodeId: 'b', bus }));
    await Promise.all([a.connect(), b.connect()]);
    const got: string[] = [];
    await b.subscribe('x', (e) => void got.push(e.source));
    await b.serve('svc', (req) => ({ ...req, source: 'urn:ecps:b' }));
    net.isolate('a');
    await a.publish('x', event('a'));
    await expect(a.request('svc', event('a'), { timeoutMs: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    net.heal();
    await a.publish('x', event('a'));
    await waitFor(() => got.length === 1, 'delivery after healing');
    await sleep(10);
    expect(got).toEqual(['urn:ecps:a']);
    expect(net.dropped).toBeGreaterThanOrEqual(2);
    expect((await a.request('svc', event('a'))).source).toBe('urn:ecps:b');
    await Promise.all([a.close(), b.close()]);
  });
});
