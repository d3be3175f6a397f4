// SPDX-License-Identifier: Apache-2.0
// Replay protection: a timestamp skew bound plus a per-sender nonce cache covering the same window. The cache is
// bounded; when it evicts, it raises the sender's floor so that nothing older than an evicted entry is accepted
// (a message reordered beyond what the cache remembers is rejected rather than possibly replayed).
import { systemClock, toHex, type Clock } from '@ecps/core';
import { TrustError } from './errors';

export interface ReplayGuardOptions {
  /** Maximum |now - timestamp|, and how long nonces are remembered. Default 300 000 ms (spec §10). */
  windowMs?: number;
  /** Nonces remembered per sender. Default 65 536. */
  maxNoncesPerSender?: number;
  /** Senders tracked; the least recently seen is forgotten beyond it (its floor stays conservative). Default 10 000. */
  maxSenders?: number;
  clock?: Clock;
}

interface SenderState {
  /** nonce (hex) -> timestamp ms, in insertion order. */
  readonly nonces: Map<string, number>;
  /** Timestamps at or below this are rejected: the cache no longer proves they are new. */
  floor: number;
}

export class ReplayGuard {
  private readonly windowMs: number;
  private readonly maxNonces: number;
  private readonly maxSenders: number;
  private readonly clock: Clock;
  private readonly senders = new Map<string, SenderState>();
  /** Floor for senders seen again after being forgotten. */
  private forgotten = -Infinity;

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? 300_000;
    this.maxNonces = options.maxNoncesPerSender ?? 65_536;
    this.maxSenders = options.maxSenders ?? 10_000;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Accepts (and remembers) a message or throws.
   * @throws TrustError `STALE_MESSAGE` when the timestamp is more than the window away from now,
   *   `REPLAY_DETECTED` for a repeated `(sender, nonce)` or a timestamp at or below the sender's floor.
   */
  check(senderId: string, nonce: Uint8Array, timestampNs: bigint): void {
    const now = this.clock.now();
    const ts = this.checkTime(senderId, timestampNs, now);
    if (nonce.length < 8) throw new TrustError('REPLAY_DETECTED', `nonce from ${senderId} too short`);
    let state = this.senders.get(senderId);
    if (state) {
      this.senders.delete(senderId); // re-insert: the map order is least recently seen first
    } else {
      state = { nonces: new Map(), floor: this.forgotten };
    }
    this.senders.set(senderId, state);
    if (this.senders.size > this.maxSenders) {
      // Forgetting a sender entirely would let its recent messages be replayed, so keep the floor at "now".
      const [oldest] = this.senders.keys();
      this.senders.delete(oldest!);
      this.forgotten = Math.max(this.forgotten, now);
    }
    const key = toHex(nonce);
    if (state.nonces.has(key)) throw new TrustError('REPLAY_DETECTED', `repeated nonce from ${senderId}`, { details: { senderId, reason: 'duplicate' } });
    if (ts <= state.floor) {
      throw new TrustError('REPLAY_DETECTED', `message from ${senderId} is older than the replay window remembers`, {
        details: { senderId, reason: 'below-window' },
      });
    }
    state.nonces.set(key, ts);
    this.prune(state, now);
  }

  /**
   * Only the timestamp bound of {@link check} (for messages whose replays another mechanism catches); returns ms.
   * @throws TrustError `STALE_MESSAGE` when the timestamp is more than the window away from now.
   */
  checkTime(senderId: string, timestampNs: bigint, now = this.clock.now()): number {
    const ts = Number(timestampNs / 1_000_000n);
    if (Math.abs(now - ts) > this.windowMs) {
      throw new TrustError('STALE_MESSAGE', `message from ${senderId} is ${Math.round((now - ts) / 1000)} s off (limit ${this.windowMs / 1000} s)`, {
        details: { senderId, timestampMs: ts, nowMs: now },
      });
    }
    return ts;
  }

  private prune(state: SenderState, now: number): void {
    for (const [nonce, ts] of state.nonces) {
      if (state.nonces.size <= this.maxNonces && ts >= now - this.windowMs) break;
      state.nonces.delete(nonce);
      state.floor = Math.max(state.floor, ts);
    }
  }
}
