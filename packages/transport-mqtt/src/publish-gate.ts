// SPDX-License-Identifier: Apache-2.0
// Bounds the publishes not yet completed (queued offline or awaiting their PUBACK/PUBCOMP).
import { TransportError } from '@ecps/core';

/** What a publish does when the bound is reached: fail at once with `QUEUE_FULL`, or wait for room. */
export type QueueFullPolicy = 'reject' | 'wait';

export class PublishGate {
  private inUse = 0;
  private readonly waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private closedError: unknown;

  constructor(
    readonly limit: number,
    private readonly policy: QueueFullPolicy,
  ) {}

  get pending(): number {
    return this.inUse;
  }

  /** Takes a slot; returns undefined when one was free (the fast path stays synchronous). */
  acquire(details: Record<string, unknown>): Promise<void> | undefined {
    if (this.closedError) throw this.closedError;
    if (this.inUse < this.limit && this.waiters.length === 0) {
      this.inUse++;
      return undefined;
    }
    if (this.policy === 'reject') {
      throw new TransportError('QUEUE_FULL', `${this.inUse} publishes are pending; the limit is ${this.limit}`, {
        details: { ...details, limit: this.limit },
      });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve(); // the slot passes straight to the next waiter
    else this.inUse--;
  }

  /** Fails every waiter and every later acquire with `error`. */
  close(error: unknown): void {
    this.closedError = error;
    for (const w of this.waiters.splice(0)) w.reject(error);
  }
}
