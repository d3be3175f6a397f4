// SPDX-License-Identifier: Apache-2.0
// One mutex per key (per bot), created on demand and dropped when idle, so work on one bot runs in order.
import { Mutex } from 'async-mutex';

/** Serializes async work per key; work on different keys runs concurrently. Memory is bounded by the busy keys. */
export class KeyedMutex {
  private readonly locks = new Map<string, { mutex: Mutex; users: number }>();

  /** Runs `fn` once every earlier call with the same key has settled; resolves or rejects with its result. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let entry = this.locks.get(key);
    if (!entry) this.locks.set(key, (entry = { mutex: new Mutex(), users: 0 }));
    entry.users++;
    try {
      return await entry.mutex.runExclusive(fn);
    } finally {
      if (--entry.users === 0) this.locks.delete(key);
    }
  }
}
