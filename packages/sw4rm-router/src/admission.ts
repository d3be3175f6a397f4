// SPDX-License-Identifier: Apache-2.0
// Sends held while a recipient's queue is full, as a reliable DDS writer blocks for up to `max_blocking_time`
// before it reports a timeout: a refusal the producer must retry costs a whole gRPC call, a held send costs nothing
// on the wire and is admitted the moment an ack frees a row. Waiters are served first-come per recipient; how many
// are held, and their bytes, is bounded, and past the bound a send is answered at once.
import type { Clock, TimerHandle } from '@ecps/core';

/** Bounds on what {@link AdmissionQueue} holds. */
export interface AdmissionLimits {
  /** Sends held at once. */
  maxSends: number;
  /** Envelope bytes held at once. */
  maxBytes: number;
}

interface Waiter<K> {
  keys: readonly K[];
  bytes: number;
  deadline: number;
  resolve: (admitted: boolean) => void;
}

/** First-come queues of held sends, one per recipient key. */
export class AdmissionQueue<K> {
  private readonly queues = new Map<K, Waiter<K>[]>();
  /** Every held send; one timer, armed for the earliest deadline, expires them (not one timer per send). */
  private readonly held = new Set<Waiter<K>>();
  private bytes = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly clock: Clock,
  ) {}

  /** Sends held for `key`: a new send queues behind them even if a row is free right now. */
  waitingFor(key: K): number {
    return this.queues.get(key)?.length ?? 0;
  }

  /**
   * Holds a send until a row frees in one of `keys` (true) or the clock reaches `deadline` (false). False at once
   * when the limits are reached. `first` puts it at the head of its queues (a send that was admitted but found no
   * room keeps its turn).
   */
  wait(keys: readonly K[], bytes: number, deadline: number, first = false): Promise<boolean> {
    if (deadline <= this.clock.now() || this.held.size >= this.limits.maxSends || this.bytes + bytes > this.limits.maxBytes) {
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter<K> = { keys, bytes, deadline, resolve };
      this.held.add(waiter);
      this.bytes += bytes;
      for (const key of keys) {
        const queue = this.queues.get(key);
        if (!queue) this.queues.set(key, [waiter]);
        else if (first) queue.unshift(waiter);
        else queue.push(waiter);
      }
      if (deadline < this.timerAt) this.arm(deadline);
    });
  }

  /** A row of `key` was freed: its oldest waiter is admitted to re-check. */
  freed(key: K): void {
    const head = this.queues.get(key)?.[0];
    if (head) this.settle(head, true);
  }

  /** Releases every waiter (shutdown): each re-checks and finds the router draining. */
  releaseAll(): void {
    for (const waiter of [...this.held]) this.settle(waiter, true);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.expire(), Math.max(0, at - this.clock.now()));
  }

  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const waiter of [...this.held]) {
      if (waiter.deadline <= now) this.settle(waiter, false);
      else next = Math.min(next, waiter.deadline);
    }
    if (next < Infinity) this.arm(next);
  }

  private settle(waiter: Waiter<K>, admitted: boolean): void {
    if (!this.held.delete(waiter)) return;
    this.bytes -= waiter.bytes;
    for (const key of waiter.keys) {
      const queue = this.queues.get(key)!;
      queue.splice(queue.indexOf(waiter), 1);
      if (!queue.length) this.queues.delete(key);
    }
    waiter.resolve(admitted);
  }
}
