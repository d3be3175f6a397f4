// SPDX-License-Identifier: Apache-2.0
// Remembers nonces for a while so a replayed handshake is refused; bounded in time and in entries.
import type { Clock } from '@ecps/core';
import { toHex } from '@ecps/core';

export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 5 * 60_000,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records `nonce`; false when it was already seen within the TTL (a replay). Oldest entries go first when full. */
  remember(nonce: Uint8Array): boolean {
    const now = this.clock.now();
    for (const [k, at] of this.seen) {
      if (now - at <= this.ttlMs && this.seen.size < this.maxEntries) break;
      this.seen.delete(k);
    }
    const id = toHex(nonce);
    const at = this.seen.get(id);
    if (at !== undefined && now - at <= this.ttlMs) return false;
    this.seen.set(id, now);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
