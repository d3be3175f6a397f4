// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import type { Transport } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { startA2aAgent } from './a2a-agent';
import type { A2aAgent, PeerChange } from './a2a-agent';

const open: { agents: A2aAgent[]; transports: Transport[] } = { agents: [], transports: [] };
afterEach(async () => {
  for (const a of open.agents.splice(0)) await a.stop(false);
  for (const t of open.transports.splice(0)) await t.close();
});

async function agent(bus: MemoryBus, clock: ManualClock, id: string, caps: string[], accept = true): Promise<A2aAgent> {
  const transport = memoryTransport({ nodeId: id, bus });
  await transport.connect();
  open.transports.push(transport);
  const a = await startA2aAgent({
    transport,
    agentId: id,
    agentType: 'robot',
    capabilities: caps.map((name) => ({ name })),
    heartbeatIntervalMs: 100,
    clock,
    onRequest: ({ action, fromAgent }) => ({ accepted: accept, reason: accept ? '' : 'busy', payload: new TextEncoder().encode(`${id} got ${action} from ${fromAgent}`) }),
  });
  open.agents.push(a);
  return a;
}

describe('A2aAgent', () => {
  it('discovers peers and their capabilities, and marks a silent peer unavailable without forgetting it', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const a = await agent(bus, clock, 'r1', ['grip']);
    const changes: string[] = [];
    a.onPeerChange((p, c: PeerChange) => changes.push(`${p.id}:${c}`));
    const b = await agent(bus, clock, 'r2', ['camera', 'grip']);
    await waitFor(() => a.peers().length === 1, 'discovery');
    expect(a.findByCapability('camera').map((p) => p.id)).toEqual(['r2']);
    // r1 joined first; it learns of r2's heartbeats, r2 learns of r1's on r1's next beat
    clock.advance(100);
    await waitFor(() => b.peers().length === 1, 'discovery back');

    await b.stop(false); // a crash: no goodbye
    for (let i = 0; i < 5; i++) clock.advance(100);
    await waitFor(() => a.peers()[0]?.available === false, 'unavailable');
    expect(a.peers().map((p) => p.id)).toEqual(['r2']);
    expect(a.findByCapability('camera')).toEqual([]);
    expect(changes).toEqual(['r2:discovered', 'r2:unavailable']);

    // it comes back
    const b2 = await agent(bus, clock, 'r2', ['camera']);
    await waitFor(() => a.peers()[0]?.available === true, 'available again');
    expect(changes.at(-1)).toBe('r2:available');
    await b2.stop(true);
    await waitFor(() => a.peers()[0]?.left === true, 'left');
    expect(a.peers()[0]?.available).toBe(false);
  });

  it('sends coordination requests and returns the peer answer', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const a = await agent(bus, clock, 'r1', []);
    await agent(bus, clock, 'r2', [], true);
    await agent(bus, clock, 'r3', [], false);
    const yes = await a.request('r2', 'hold-position', new Uint8Array([1]));
    expect(yes.accepted).toBe(true);
    expect(new TextDecoder().decode(yes.payload)).toBe('r2 got hold-position from r1');
    const no = await a.request('r3', 'lift');
    expect(no).toMatchObject({ accepted: false, reason: 'busy' });
  });

  it('rejects a bad agent id', async () => {
    const bus = new MemoryBus();
    const t = memoryTransport({ nodeId: 'x', bus });
    open.transports.push(t);
    await expect(startA2aAgent({ transport: t, agentId: 'bad id!' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
