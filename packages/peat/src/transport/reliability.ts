// SPDX-License-Identifier: Apache-2.0
// Per-peer reliability (spec §6.3): a token-bucket rate, a bounded queue with a bound on bytes in flight,
// retries with jittered exponential backoff, and a circuit breaker. All limits are options with the spec's
// defaults; time and jitter come from the injected clock and random source.
import type { Clock, RandomSource, TimerHandle } from '@ecps/core';
import { PeatError } from '../errors';

export interface ReliabilityOptions {
  /** Tokens added per refill. Default 10. */
  readonly tokensPerRefill?: number;
  /** Refill period. Default 100 ms (so 100 msg/s). */
  readonly refillMs?: number;
  /** Queued sends per peer. Default 1,000. */
  readonly maxQueue?: number;
  /** Bytes queued or being sent per peer. Default 10 MB. */
  readonly maxBytesInFlight?: number;
  /** First retry delay. Default 100 ms. */
  readonly retryInitialMs?: number;
  /** Retry delay cap. Default 30 s. */
  readonly retryMaxMs?: number;
  /** Delay multiplier. Default 2. */
  readonly retryMultiplier?: number;
  /** ± fraction of jitter. Default 0.1. */
  readonly retryJitter?: number;
  /** Attempts per send, the first included. Default 5. */
  readonly maxAttempts?: number;
  /** Failures within `breakerWindowMs` that open the breaker. Default 5. */
  readonly breakerFailures?: number;
  /** Default 5 s. */
  readonly breakerWindowMs?: number;
  /** How long the breaker stays open. Default 5 s. */
  readonly breakerOpenMs?: number;
  /** Half-open successes that close it. Default 2. */
  readonly breakerHalfOpenSuccesses?: number;
}

export const RELIABILITY_DEFAULTS: Required<ReliabilityOptions> = {
  tokensPerRefill: 10,
  refillMs: 100,
  maxQueue: 1_000,
  maxBytesInFlight: 10_000_000,
  retryInitialMs: 100,
  retryMaxMs: 30_000,
  retryMultiplier: 2,
  retryJitter: 0.1,
  maxAttempts: 5,
  breakerFailures: 5,
  breakerWindowMs: 5_000,
  breakerOpenMs: 5_000,
  breakerHalfOpenSuccesses: 2,
};

/** Delay before retry `attempt` (1 = first retry): initial × multiplier^(attempt−1), capped, ± jitter. */
export function retryDelay(options: Required<ReliabilityOptions>, attempt: number, random: RandomSource): number {
  const base = Math.min(options.retryMaxMs, options.retryInitialMs * options.retryMultiplier ** (attempt - 1));
  return Math.max(0, base * (1 + options.retryJitter * (2 * random.float() - 1)));
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Opens after N failures within a window, stays open for a while, closes after M half-open successes. */
export class CircuitBreaker {
  private failures: number[] = [];
  private openedAt = 0;
  private halfOpenSuccesses = 0;
  private current: BreakerState = 'closed';

  constructor(
    private readonly options: Required<ReliabilityOptions>,
    private readonly clock: Clock,
  ) {}

  get state(): BreakerState {
    if (this.current === 'open' && this.clock.monotonic() - this.openedAt >= this.options.breakerOpenMs) {
      this.current = 'half-open';
      this.halfOpenSuccesses = 0;
    }
    return this.current;
  }

  /** Whether a send may go now. */
  allows(): boolean {
    return this.state !== 'open';
  }

  success(): void {
    if (this.state === 'half-open' && ++this.halfOpenSuccesses >= this.options.breakerHalfOpenSuccesses) {
      this.current = 'closed';
      this.failures = [];
    }
  }

  failure(): void {
    const now = this.clock.monotonic();
    if (this.state === 'half-open') {
      this.trip(now);
      return;
    }
    this.failures = this.failures.filter((t) => now - t < this.options.breakerWindowMs);
    this.failures.push(now);
    if (this.failures.length >= this.options.breakerFailures) this.trip(now);
  }

  private trip(now: number): void {
    this.current = 'open';
    this.openedAt = now;
    this.failures = [];
  }
}

interface Pending {
  readonly data: Uint8Array;
  attempt: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** Counters for one peer's channel. */
export interface ChannelStats {
  sent: number;
  retried: number;
  failed: number;
  rejected: number;
}

/**
 * The outgoing path to one peer: sends wait for a token, are retried with backoff when `deliver` fails, and are
 * refused with `QUEUE_FULL` (queue or bytes bound) or `UNAVAILABLE` (breaker open, or the channel closed) —
 * never dropped silently. One send is delivered at a time, in order.
 */
export class PeerChannel {
  readonly stats: ChannelStats = { sent: 0, retried: 0, failed: 0, rejected: 0 };
  readonly breaker: CircuitBreaker;
  private readonly queue: Pending[] = [];
  private bytes = 0;
  private tokens: number;
  private lastRefill: number;
  private busy = false;
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly deliver: (data: Uint8Array) => Promise<void>,
    private readonly options: Required<ReliabilityOptions>,
    private readonly clock: Clock,
    private readonly random: RandomSource,
  ) {
    this.breaker = new CircuitBreaker(options, clock);
    this.tokens = options.tokensPerRefill;
    this.lastRefill = clock.monotonic();
  }

  /** Bytes queued or in flight. */
  get bytesInFlight(): number {
    return this.bytes;
  }
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves once delivered; rejects `QUEUE_FULL`, `UNAVAILABLE`, or the last delivery error after all attempts. */
  send(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new PeatError('UNAVAILABLE', 'peer channel closed'));
    if (!this.breaker.allows()) {
      this.stats.rejected++;
      return Promise.reject(new PeatError('UNAVAILABLE', 'circuit breaker open for this peer'));
    }
    if (this.queue.length >= this.options.maxQueue || this.bytes + data.length > this.options.maxBytesInFlight) {
      this.stats.rejected++;
      return Promise.reject(
        new PeatError('QUEUE_FULL', 'peer queue is full', { details: { queued: this.queue.length, bytes: this.bytes, size: data.length } }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, attempt: 0, resolve, reject });
      this.bytes += data.length;
      this.pump();
    });
  }

  private refill(): void {
    const now = this.clock.monotonic();
    const periods = Math.floor((now - this.lastRefill) / this.options.refillMs);
    if (periods > 0) {
      this.tokens = Math.min(this.options.tokensPerRefill, this.tokens + periods * this.options.tokensPerRefill);
      this.lastRefill += periods * this.options.refillMs;
    }
  }

  private pump(): void {
    if (this.busy || this.timer !== undefined || this.closed) return;
    const head = this.queue[0];
    if (!head) return;
    if (!this.breaker.allows()) {
      // an open breaker fails what is queued now rather than holding it for an unknown time
      for (const p of this.queue.splice(0)) {
        this.stats.failed++;
        p.reject(new PeatError('UNAVAILABLE', 'circuit breaker open for this peer'));
      }
      this.bytes = 0;
      return;
    }
    this.refill();
    if (this.tokens < 1) {
      this.wait(this.lastRefill + this.options.refillMs - this.clock.monotonic());
      return;
    }
    this.tokens--;
    this.busy = true;
    head.attempt++;
    this.deliver(head.data).then(
      () => {
        this.busy = false;
        if (this.closed) return;
        this.queue.shift();
        this.bytes -= head.data.length;
        this.stats.sent++;
        this.breaker.success();
        head.resolve();
        this.pump();
      },
      (error: unknown) => {
        this.busy = false;
        if (this.closed) return;
        this.breaker.failure();
        if (head.attempt >= this.options.maxAttempts || !this.breaker.allows()) {
          this.queue.shift();
          this.bytes -= head.data.length;
          this.stats.failed++;
          head.reject(error);
          this.pump();
          return;
        }
        this.stats.retried++;
        this.wait(retryDelay(this.options, head.attempt, this.random));
      },
    );
  }

  private wait(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, ms));
  }

  /** Fails everything queued with `UNAVAILABLE` and refuses further sends. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of this.queue.splice(0)) p.reject(new PeatError('UNAVAILABLE', 'peer channel closed'));
    this.bytes = 0;
  }
}
