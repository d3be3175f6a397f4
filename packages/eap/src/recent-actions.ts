// SPDX-License-Identifier: Apache-2.0
// The actions a robot has accepted recently, so that one delivered twice (MQTT QoS 1 redelivery, a sender's retry)
// runs once. Memory is bounded twice over: an entry is dropped once its action would be stale anyway, and there are
// never more than `capacity` entries. When the cap forces out an entry that could still arrive again, every action
// not newer than it is refused from then on (a floor), so a forgotten action can never run a second time.
import type { EapResult } from '@ecps/proto/ext/v1';

export interface RecentAction {
  /** The action's CloudEvents time (ms). */
  readonly timeMs: number;
  /** Set once its handler has finished: a redelivery gets this result again. */
  result?: EapResult;
}

export type Admission =
  | { kind: 'new'; entry: RecentAction }
  | { kind: 'duplicate'; entry: RecentAction }
  /** Older than an action forgotten under memory pressure: cannot be proven new. */
  | { kind: 'below-floor'; floorMs: number };

export class RecentActions {
  private readonly entries = new Map<string, RecentAction>();
  private floorMs = Number.NEGATIVE_INFINITY;

  /**
   * @param windowMs how long after its `time` an action can still be accepted (older ones are stale)
   * @param capacity most entries kept
   */
  constructor(
    private readonly windowMs: number,
    private readonly capacity: number,
  ) {}

  /** Records `key` (sender and action id) as seen at `timeMs`, unless it was seen before or is below the floor. */
  admit(key: string, timeMs: number, nowMs: number): Admission {
    const known = this.entries.get(key);
    if (known) return { kind: 'duplicate', entry: known };
    this.forgetStale(nowMs);
    if (timeMs <= this.floorMs) return { kind: 'below-floor', floorMs: this.floorMs };
    while (this.entries.size >= this.capacity) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, RecentAction];
      this.entries.delete(oldestKey);
      this.floorMs = Math.max(this.floorMs, oldest.timeMs);
    }
    const entry: RecentAction = { timeMs };
    this.entries.set(key, entry);
    return { kind: 'new', entry };
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops entries, oldest first, whose actions could no longer be accepted anyway. */
  private forgetStale(nowMs: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.timeMs + this.windowMs >= nowMs) break;
      this.entries.delete(key);
    }
  }
}
