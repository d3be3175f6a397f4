// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import type { Clock, Transport } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { startA2aAgent } from './a2a-agent';
import type { A2aAgent, A2aAgentOptions, PeerChange } from './a2a-agent';
import { AgentHeartbeat } from '@ecps/proto/ext/v1';
import { HEARTBEAT_EVENT_TYPE, heartbeatTopic } from './a2a-agent';

const open: { agents: A2aAgent[]; transports: Transport[] } = { agents: [], transports: [] };
afterEach(async () => {
  for (const a of open.agents.splice(0)) await a.stop(false);
  for (const t of open.transports.splice(0)) await t.close();
});

async function agent(bus: MemoryBus, clock: ManualClock, id: string, caps: string[], accept = true, extra: Partial<A2aAgentOptions> = {}): Promise<A2aAgent> {
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
    ...extra,
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

  it('keeps hearing a peer whose wall clock steps back (order by incarnation and sequence, not time)', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    // r2's wall clock is stepped by `step` ms (timers, like real ones, are not)
    let step = 0;
    const stepped: Clock = {
      now: () => clock.now() + step,
      nowNs: () => clock.nowNs() + BigInt(step) * 1_000_000n,
      monotonic: () => clock.monotonic(),
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
      clearTimeout: (h) => clock.clearTimeout(h),
    };
    const a = await agent(bus, clock, 'r1', []);
    const b = await agent(bus, stepped as ManualClock, 'r2', ['grip']);
    await waitFor(() => a.peers().length === 1, 'discovery');
    // an NTP correction sets r2's clock back an hour
    step = -3_600_000;
    await b.advertise([{ name: 'grip' }, { name: 'camera' }]);
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      await new Promise((r) => setImmediate(r));
    }
    expect(a.peers()[0]).toMatchObject({ id: 'r2', available: true });
    expect(a.findByCapability('camera').map((p) => p.id)).toEqual(['r2']);
  });

  it('ignores a late heartbeat of an earlier incarnation once the agent restarted', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const a = await agent(bus, clock, 'r1', []);
    const late: Uint8Array[] = [];
    const spy = memoryTransport({ nodeId: 'spy', bus });
    open.transports.push(spy);
    await spy.subscribe(heartbeatTopic('r2'), (e) => void late.push(e.data));
    const b = await agent(bus, clock, 'r2', ['grip']);
    await waitFor(() => a.peers().length === 1 && late.length > 0, 'discovery');
    await b.stop(false);
    await agent(bus, clock, 'r2', ['camera']);
    await waitFor(() => a.findByCapability('camera').length === 1, 'the new incarnation');
    // the old process's heartbeat arrives late (it advertised grip): nothing changes
    const r2 = memoryTransport({ nodeId: 'r2', bus });
    open.transports.push(r2);
    await r2.publish(heartbeatTopic('r2'), { id: 'late', source: 'urn:ecps:r2', type: HEARTBEAT_EVENT_TYPE, data: late[0] as Uint8Array });
    await new Promise((r) => setImmediate(r));
    expect(a.findByCapability('grip')).toEqual([]);
    expect(a.findByCapability('camera').map((p) => p.id)).toEqual(['r2']);
  });

  it('binds messages to their sender: forged heartbeats are dropped and requests name their real source', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const a = await agent(bus, clock, 'r1', []);
    const mallory = memoryTransport({ nodeId: 'mallory', bus });
    open.transports.push(mallory);
    const forged = AgentHeartbeat.encode({ agentId: 'r9', agentType: 'robot', capabilities: [], sequence: 1n, timestampNs: 0n, load: 0, metadata: {}, leaving: false, incarnation: 7n }).finish();
    await mallory.publish(heartbeatTopic('r9'), { id: 'x', source: 'urn:ecps:mallory', type: HEARTBEAT_EVENT_TYPE, data: forged });
    await new Promise((r) => setImmediate(r));
    expect(a.peers()).toEqual([]);
    // a request that claims to come from r2 is answered as coming from mallory
    const m = await agent(bus, clock, 'mallory', []);
    const reply = await m.request('r1', 'lift');
    expect(new TextDecoder().decode(reply.payload)).toBe('r1 got lift from mallory');
  });

  it('keeps the peer table bounded: forgets long-gone peers and evicts the stalest beyond maxPeers', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const a = await agent(bus, clock, 'r0', [], true, { maxPeers: 3, forgetAfterMs: 2_000 });
    const others = [];
    for (let i = 1; i <= 3; i++) others.push(await agent(bus, clock, `r${i}`, []));
    await waitFor(() => a.peers().length === 3, 'discovery');
    for (const o of others.slice(0, 2)) await o.stop(false);
    for (let i = 0; i < 5; i++) clock.advance(100);
    await waitFor(() => a.peers().filter((p) => !p.available).length === 2, 'two unavailable');
    // a fourth peer joins a full table: the stalest unavailable one makes room
    await agent(bus, clock, 'r4', []);
    await waitFor(() => a.peers().some((p) => p.id === 'r4'), 'r4 known');
    expect(a.peers()).toHaveLength(3);
    expect(a.peers().map((p) => p.id)).not.toContain('r1');
    // long gone: forgotten
    for (let i = 0; i < 25; i++) {
      clock.advance(100);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => !a.peers().some((p) => p.id === 'r2'), 'r2 forgotten');
    expect(a.peers().map((p) => p.id).sort()).toEqual(['r3', 'r4']);
  });

  it('rejects a bad agent id', async () => {
    const bus = new MemoryBus();
    const t = memoryTransport({ nodeId: 'x', bus });
    open.transports.push(t);
    await expect(startA2aAgent({ transport: t, agentId: 'bad id!' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
