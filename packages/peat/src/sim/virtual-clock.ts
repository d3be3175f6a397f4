// SPDX-License-Identifier: Apache-2.0
// A Clock whose time moves only when told to, with a binary heap of timers so that thousands of simulated
// nodes with thousands of pending timers stay O(log n) per timer (core's ManualClock scans all timers).
import type { Clock, TimerHandle } from '@ecps/core';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private heap: Timer[] = [];
  private live = 0;

  constructor(startMs = 1_750_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }
  nowNs(): bigint {
    return BigInt(Math.round(this.current)) * 1_000_000n;
  }
  monotonic(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: Timer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(t);
    this.live++;
    return t;
  }
  clearTimeout(handle: TimerHandle): void {
    const t = handle as Timer;
    if (!t.cancelled) {
      t.cancelled = true;
      this.live--;
    }
  }
  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.live;
  }

  /** Fires the next due timer at or before `until`; false when there is none. */
  step(until = Infinity): boolean {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) return false;
      this.pop();
      if (top.cancelled) continue;
      top.cancelled = true;
      this.live--;
      this.current = Math.max(this.current, top.at);
      top.fn();
      return true;
    }
  }

  /** Moves time forward by `ms`, firing every timer that falls due (including ones scheduled meanwhile), in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    while (this.step(target));
    this.current = Math.max(this.current, target);
  }

  /**
   * Runs a simulation: fires timers, draining promise callbacks after each one, until `done()` (which may be
   * async) holds or `maxMs` of virtual time pass. Everything in a simulation on the in-memory network is promise
   * callbacks, so draining microtasks suffices; a macrotask turn every 32 timers lets anything else through.
   * Resolves whether `done()` held.
   */
  async run(done: () => boolean | Promise<boolean>, maxMs: number): Promise<boolean> {
    let last = false;
    let steps = 0;
    return this.runUntil(
      () => last,
      maxMs,
      async () => {
        for (let i = 0; i < 40; i++) await Promise.resolve();
        if (++steps % 32 === 0) await new Promise<void>((r) => setImmediate(r));
        last = await done();
      },
    );
  }

  /**
   * Fires timers (and lets promise callbacks run between them) until `done()` holds or `maxMs` of virtual time
   * pass. Resolves whether `done()` held.
   */
  async runUntil(done: () => boolean, maxMs: number, settle: () => Promise<void> = flushMicrotasks): Promise<boolean> {
    const end = this.current + maxMs;
    await settle();
    while (!done()) {
      if (!this.step(end)) {
        await settle();
        if (done()) return true;
        if (!this.step(end)) {
          this.current = Math.max(this.current, end);
          return done();
        }
      }
      await settle();
    }
    return true;
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets pending promise callbacks (and the ones they chain) run. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
