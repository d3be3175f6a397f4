// SPDX-License-Identifier: Apache-2.0
import { TransportError } from './errors';

/**
 * A bounded single-consumer queue that is also an async iterable: producers `push`, the consumer iterates,
 * `end()` finishes the iteration, `fail(err)` makes it throw. Pushing past the bound fails the queue with
 * `QUEUE_FULL` rather than dropping anything silently.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: unknown;

  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  get size(): number {
    return this.items.length;
  }

  get finished(): boolean {
    return this.done;
  }

  push(item: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    if (this.items.length >= this.limit) {
      this.fail(new TransportError('QUEUE_FULL', `stream buffer of ${this.limit} events overflowed`));
      return;
    }
    this.items.push(item);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.waiter?.resolve({ value: undefined, done: true });
    this.waiter = undefined;
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    this.items.length = 0;
    this.waiter?.reject(error);
    this.waiter = undefined;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next(), return: async () => (this.end(), { value: undefined, done: true }) };
  }
}
