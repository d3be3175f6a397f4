// SPDX-License-Identifier: Apache-2.0
// Flow control (spec §5.1): token buckets on messages and bytes (cell: 100 msg/s and 100 KB/s; zone: 50 and
// 50 KB/s) in front of a bounded queue with a drop policy, and a backpressure flag. Time comes from the caller.
import { PeatError } from '@ecps/peat';

export type DropPolicy = 'DropLowPriority' | 'DropOldest' | 'NeverDrop';

export interface FlowLimits {
  readonly messagesPerSecond: number;
  readonly bytesPerSecond: number;
}
export const CELL_FLOW: FlowLimits = { messagesPerSecond: 100, bytesPerSecond: 100_000 };
export const ZONE_FLOW: FlowLimits = { messagesPerSecond: 50, bytesPerSecond: 50_000 };

/** A token bucket refilled continuously up to one second's worth. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerSecond: number,
    now: number,
  ) {
    this.tokens = ratePerSecond;
    this.at = now;
  }

  /** Whether `n` tokens are available now (without taking them). */
  has(n: number, now: number): boolean {
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.at) / 1000) * this.ratePerSecond);
    this.at = now;
    return this.tokens >= n;
  }

  /** Takes `n` tokens if available. */
  take(n: number, now: number): boolean {
    if (!this.has(n, now)) return false;
    this.tokens -= n;
    return true;
  }
}

export interface Queued<T> {
  readonly item: T;
  /** 0 Low .. 3 Critical. */
  readonly priority: number;
  readonly bytes: number;
}

/** A rate-limited, bounded outbound queue. */
export class FlowController<T> {
  private readonly messages: TokenBucket;
  private readonly bytes: TokenBucket;
  private readonly queue: Queued<T>[] = [];
  readonly stats = { dropped: 0 };

  constructor(
    limits: FlowLimits,
    now: number,
    private readonly policy: DropPolicy = 'DropLowPriority',
    private readonly capacity = 1_000,
  ) {
    this.messages = new TokenBucket(limits.messagesPerSecond, now);
    this.bytes = new TokenBucket(limits.bytesPerSecond, now);
  }

  /** True while the queue is full. */
  get backpressure(): boolean {
    return this.queue.length >= this.capacity;
  }
  get length(): number {
    return this.queue.length;
  }

  /**
   * Queues an item. When full: DropLowPriority drops the lowest-priority queued item (Low, then Normal) if it is
   * below the new one's, else refuses the new one; DropOldest drops the oldest; NeverDrop throws.
   * Returns the dropped item, if any. @throws PeatError `QUEUE_FULL` under NeverDrop when full.
   */
  offer(q: Queued<T>): Queued<T> | undefined {
    if (this.queue.length < this.capacity) {
      this.queue.push(q);
      return undefined;
    }
    this.stats.dropped++;
    switch (this.policy) {
      case 'NeverDrop':
        this.stats.dropped--;
        throw new PeatError('QUEUE_FULL', 'flow control: queue full');
      case 'DropOldest': {
        const old = this.queue.shift()!;
        this.queue.push(q);
        return old;
      }
      default: {
        let low = -1;
        for (let i = 0; i < this.queue.length; i++) if (this.queue[i]!.priority <= 1 && (low < 0 || this.queue[i]!.priority < this.queue[low]!.priority)) low = i;
        if (low < 0 || this.queue[low]!.priority >= q.priority) return q;
        const [dropped] = this.queue.splice(low, 1);
        this.queue.push(q);
        return dropped;
      }
    }
  }

  /** Items the buckets let through now, highest priority first. */
  drain(now: number): T[] {
    this.queue.sort((a, b) => b.priority - a.priority);
    const out: T[] = [];
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      // both buckets must allow it, so a refusal by one never spends the other's tokens
      if (!this.messages.has(1, now) || !this.bytes.has(head.bytes, now)) break;
      this.messages.take(1, now);
      this.bytes.take(head.bytes, now);
      out.push(this.queue.shift()!.item);
    }
    return out;
  }
}
