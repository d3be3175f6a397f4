// SPDX-License-Identifier: Apache-2.0
// Sliding replay window over a sender's message counter (RFC 4303 §3.4.3, as IPsec, DTLS and WireGuard keep one):
// a counter within the window is accepted once, in any order; a duplicate or one below the window is refused.
import { TrustError } from './errors';

/** Default window: counters this far behind the highest one seen are still accepted (once). */
export const DEFAULT_REPLAY_WINDOW = 1024;

/**
 * Remembers which counters of one direction of one session were accepted. Memory is fixed (`size` slots), whatever
 * the peer sends: slot `seq % size` holds the last counter accepted there, so a counter is a duplicate exactly when
 * its slot holds it.
 */
export class ReplayWindow {
  private readonly slots: Float64Array;
  private highest = -1;

  /** @throws TrustError `CONFIG_INVALID` unless `size` is an integer in [32, 2^20]. */
  constructor(readonly size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size > 1 << 20) throw new TrustError('CONFIG_INVALID', `replay window ${size} outside [32, 2^20]`);
    this.slots = new Float64Array(size).fill(-1);
  }

  /**
   * Throws unless `seq` may be accepted; does not remember it (call {@link commit} once the message authenticated,
   * so that a forged message cannot burn a counter).
   * @throws TrustError `REPLAY_DETECTED` with `details.reason` `duplicate` or `below-window`.
   */
  check(seq: number): void {
    if (seq > this.highest) return;
    if (seq <= this.highest - this.size) {
      throw new TrustError('REPLAY_DETECTED', `message ${seq} is older than the replay window (highest ${this.highest})`, {
        details: { reason: 'below-window', seq, highest: this.highest },
      });
    }
    if (this.slots[seq % this.size] === seq) throw new TrustError('REPLAY_DETECTED', `message ${seq} was already accepted`, { details: { reason: 'duplicate', seq } });
  }

  /** Records an authenticated `seq` (after {@link check} passed). */
  commit(seq: number): void {
    this.slots[seq % this.size] = seq;
    if (seq > this.highest) this.highest = seq;
  }
}
