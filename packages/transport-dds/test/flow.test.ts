// Flow control: a subscriber whose handler falls behind holds its publishers back instead of losing events or
// growing without bound, whether the publisher is in this process or another; receiving never blocks the event loop.
import { afterAll, describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { sleep, startTransportHost, waitFor, type TransportHost } from '@ecps/testkit';
import type { DdsTransport } from '../src/index';
import { DOMAINS } from './domains';
import { testNodes } from './support/nodes';
import { BINDING_ENV } from './support/binding';

const domainId = DOMAINS.flow;
const limits = { receiveQueueLimit: 16, historyLimit: 64 };
const event = (i: number): EcpsEvent => ({ id: `f-${i}`, source: 'urn:ecps:pub', type: 'ecps.ext.test', data: Uint8Array.of(i & 0xff, i >> 8) });

const { node, open } = testNodes(domainId, limits);
let host: TransportHost | undefined;
afterAll(async () => host?.stop());

/** A subscription whose handler waits on a gate; returns what it saw and the function that opens the gate. */
async function gatedSubscriber(sub: DdsTransport, topic: string) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const seen: string[] = [];
  await sub.subscribe(topic, async (e) => {
    seen.push(e.id);
    await gate;
  });
  return { seen, open: () => open() };
}

describe('a slow subscriber holds publishers back', () => {
  it('in this process: publishes wait (parked) while the subscriber is full, nothing is lost, order is kept', async () => {
    const pub = await node('pub');
    const sub = await node('sub');
    const { seen, open } = await gatedSubscriber(sub, 'flow/local');
    await sleep(100);
    const n = 3000;
    let settled = 0;
    const sends = Array.from({ length: n }, (_, i) => pub.publish('flow/local', event(i)).finally(() => settled++));
    await sleep(300);
    expect(pub.stats().pendingWrites).toBeGreaterThan(0); // held back
    expect(settled).toBeLessThan(n);
    expect(sub.stats().queued).toBeLessThanOrEqual(limits.receiveQueueLimit);
    open();
    await Promise.all(sends);
    await waitFor(() => seen.length === n, `${n} deliveries`, 20_000);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => `f-${i}`));
    expect(sub.stats().peakQueued).toBeLessThanOrEqual(limits.receiveQueueLimit);
    expect(sub.stats().samplesRejected).toBe(0);
  });

  it('in another process: the reliable protocol holds the remote writer back, and every event arrives in order', async () => {
    host ??= await startTransportHost(new URL('./support/remote-host.ts', import.meta.url).pathname, BINDING_ENV);
    const pub = await host.create({ nodeId: 'pub', domainId, ...limits });
    await pub.connect();
    open.push(pub);
    const sub = await node('sub');
    const { seen, open: release } = await gatedSubscriber(sub, 'flow/remote');
    await sleep(300);
    const n = 3000;
    let settled = 0;
    const sends = Array.from({ length: n }, (_, i) => pub.publish('flow/remote', event(i)).finally(() => settled++));
    await sleep(1000);
    expect(settled).toBeLessThan(n); // the remote writer could not hand everything to DDS: held back by our reader
    expect(sub.stats().queued).toBeLessThanOrEqual(limits.receiveQueueLimit);
    release();
    await Promise.all(sends);
    await waitFor(() => seen.length === n, `${n} deliveries`, 30_000);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => `f-${i}`));
    expect(sub.stats().peakQueued).toBeLessThanOrEqual(limits.receiveQueueLimit);
  });

  it('fails publishes with QUEUE_FULL past maxPendingPublishes, and delivers every accepted one', async () => {
    const pub = await node('pub', { maxPendingPublishes: 10 });
    const sub = await node('sub');
    const { seen, open } = await gatedSubscriber(sub, 'flow/full');
    await sleep(100);
    const results = await Promise.allSettled(
      Array.from({ length: 500 }, (_, i) => {
        const p = pub.publish('flow/full', event(i));
        if (i === 499) setTimeout(open, 200);
        return p;
      }),
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect(isEcpsError((r as PromiseRejectedResult).reason, 'QUEUE_FULL')).toBe(true);
    const accepted = results.length - rejected.length;
    await waitFor(() => seen.length === accepted, `${accepted} deliveries`, 10_000);
    await sleep(200);
    expect(seen).toHaveLength(accepted);
  });
});

describe('receiving never blocks the event loop', () => {
  it('a burst of 6000 samples is taken over several turns of the loop, with other callbacks running in between', async () => {
    const pub = await node('pub', { historyLimit: 8192 });
    const sub = await node('sub', { historyLimit: 8192, receiveQueueLimit: 100_000 });
    const turnsSeen = new Set<number>();
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    let n = 0;
    await sub.subscribe('flow/burst', () => {
      n++;
      turnsSeen.add(turn);
    });
    await sleep(100);
    setImmediate(tick);
    await Promise.all(Array.from({ length: 6000 }, (_, i) => pub.publish('flow/burst', event(i))));
    await waitFor(() => n === 6000, 'the burst', 10_000);
    ticking = false;
    expect(turnsSeen.size).toBeGreaterThan(1);
  });
});

describe('taken samples are copied out of the reused take buffer', () => {
  it('events kept by a handler keep their own data after later takes (samples from 1 B to more than the buffer)', async () => {
    const pub = await node('pub');
    const sub = await node('sub');
    const kept: EcpsEvent[] = [];
    await sub.subscribe('flow/kept', (e) => void kept.push(e));
    await sleep(100);
    // 96 KiB is most of the 128 KiB take buffer (a view would be tempting), 200 KiB does not fit in it
    const sizes = [1, 96 * 1024, 100, 96 * 1024, 200 * 1024, 7];
    const fill = (i: number, size: number) => new Uint8Array(size).fill(i + 1);
    for (const [i, size] of sizes.entries()) {
      // one at a time, so each is a take of its own and the next one overwrites the buffer
      await pub.publish('flow/kept', { ...event(i), data: fill(i, size) });
      await waitFor(() => kept.length === i + 1, `sample ${i}`, 10_000);
    }
    expect(kept.map((e) => e.data)).toEqual(sizes.map((size, i) => fill(i, size)));
  });
});
