// SPDX-License-Identifier: Apache-2.0
// Per-peer reliability (spec §6.3) on a virtual clock: rate, bounds, retries with jittered backoff, the breaker.
import { describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import { VirtualClock, flushMicrotasks } from '../sim/virtual-clock';
import { PeerChannel, RELIABILITY_DEFAULTS, retryDelay } from './reliability';
import type { ReliabilityOptions } from './reliability';

function channel(deliver: (d: Uint8Array) => Promise<void>, options: ReliabilityOptions = {}) {
  const clock = new VirtualClock(0);
  return { clock, ch: new PeerChannel(deliver, { ...RELIABILITY_DEFAULTS, ...options }, clock, seededRandom(1)) };
}

async function advance(clock: VirtualClock, ms: number) {
  await clock.runUntil(() => false, ms, flushMicrotasks);
}

describe('PeerChannel', () => {
  it('paces sends with the token bucket: 10 at once, then 10 per 100 ms', async () => {
    const times: number[] = [];
    const { clock, ch } = channel(async () => void times.push(clock.now()));
    const all = Promise.all(Array.from({ length: 25 }, () => ch.send(new Uint8Array(1))));
    await advance(clock, 1_000);
    await all;
    expect(times.filter((t) => t === 0)).toHaveLength(10);
    expect(times.filter((t) => t > 0 && t <= 100)).toHaveLength(10);
    expect(times.filter((t) => t > 100 && t <= 200)).toHaveLength(5);
  });

  it('refuses with QUEUE_FULL past the queue or bytes bound, keeping what it accepted', async () => {
    const delivered: number[] = [];
    const { clock, ch } = channel(async (d) => void delivered.push(d.length), { maxQueue: 3, maxBytesInFlight: 100 });
    const ok = [ch.send(new Uint8Array(10)), ch.send(new Uint8Array(10)), ch.send(new Uint8Array(10))];
    await expect(ch.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    await advance(clock, 10);
    await Promise.all(ok);
    await expect(ch.send(new Uint8Array(101))).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(delivered).toEqual([10, 10, 10]);
  });

  it('retries with exponential, jittered backoff and gives up after 5 attempts', async () => {
    const at: number[] = [];
    const { clock, ch } = channel(async () => {
      at.push(clock.now());
      throw new Error('link down');
    }, { breakerFailures: 100 });
    const result = ch.send(new Uint8Array(1)).catch((e: unknown) => e);
    await advance(clock, 10_000);
    expect(await result).toMatchObject({ message: 'link down' });
    expect(at).toHaveLength(5);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    [100, 200, 400, 800].forEach((base, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(base * 0.9);
      expect(gaps[i]).toBeLessThanOrEqual(base * 1.1 + 100);
    });
    expect(ch.stats).toMatchObject({ failed: 1, retried: 4 });
  });

  it('jitter stays within ±10 % and the delay is capped at 30 s', () => {
    const r = seededRandom(5);
    for (let attempt = 1; attempt < 20; attempt++) {
      const d = retryDelay(RELIABILITY_DEFAULTS, attempt, r);
      const base = Math.min(30_000, 100 * 2 ** (attempt - 1));
      expect(d).toBeGreaterThanOrEqual(base * 0.9);
      expect(d).toBeLessThanOrEqual(base * 1.1);
    }
  });

  it('the breaker opens after 5 failures in 5 s, refuses while open, and closes after 2 half-open successes', async () => {
    let fail = true;
    const { clock, ch } = channel(async () => {
      if (fail) throw new Error('down');
    }, { maxAttempts: 1 });
    for (let i = 0; i < 5; i++) await expect(ch.send(new Uint8Array(1))).rejects.toThrow('down');
    expect(ch.breaker.state).toBe('open');
    await expect(ch.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await advance(clock, 5_000);
    expect(ch.breaker.state).toBe('half-open');
    fail = false;
    await ch.send(new Uint8Array(1));
    expect(ch.breaker.state).toBe('half-open');
    await ch.send(new Uint8Array(1));
    expect(ch.breaker.state).toBe('closed');
  });

  it('a half-open failure opens the breaker again', async () => {
    const { clock, ch } = channel(async () => {
      throw new Error('down');
    }, { maxAttempts: 1 });
    for (let i = 0; i < 5; i++) await ch.send(new Uint8Array(1)).catch(() => undefined);
    await advance(clock, 5_000);
    await ch.send(new Uint8Array(1)).catch(() => undefined);
    expect(ch.breaker.state).toBe('open');
  });
});
