// SPDX-License-Identifier: Apache-2.0
// Injectable time: every timeout, backoff, election or staleness check takes a Clock so tests are deterministic.

export type TimerHandle = { readonly __timer: unique symbol } | number | object;

export interface Clock {
  /** Milliseconds since the Unix epoch (may be fractional). */
  now(): number;
  /** Nanoseconds since the Unix epoch. */
  nowNs(): bigint;
  /** Monotonic milliseconds, for measuring durations. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

const hrOrigin = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** The real clock: wall time with nanosecond resolution anchored at start-up, monotonic durations. */
export const systemClock: Clock = {
  now: () => Date.now(),
  nowNs: () => hrOrigin + process.hrtime.bigint(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` fires due timers in time order,
 * including timers they schedule within the window.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, ManualTimer>();

  constructor(startMs = 1_750_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }
  nowNs(): bigint {
    return BigInt(Math.round(this.current * 1000)) * 1000n;
  }
  monotonic(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.current + Math.max(0, ms), seq: id, fn });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  /** Pending timers (for assertions). */
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.timers.delete(next.seq);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = target;
  }
  /** Sets the wall time without firing timers (for skew tests). */
  set(ms: number): void {
    this.current = ms;
  }
}
