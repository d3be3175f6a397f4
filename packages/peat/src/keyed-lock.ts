// SPDX-License-Identifier: Apache-2.0
// Runs async work one at a time per key (a document, a peer), without holding anything for idle keys.

export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier task of `key` has settled; resolves or rejects with `fn`'s outcome. */
  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** True while a task of `key` is queued or running. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }
}
