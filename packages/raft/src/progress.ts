// SPDX-License-Identifier: Apache-2.0
// The leader's view of one follower's log (etcd's tracker.Progress): probe one message at a time until the
// follower's position is known, then pipeline up to `maxInflight` appends, or wait for a snapshot to land.

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an append is outstanding; wait for its answer or the next heartbeat response. */
  probeSent = false;
  pendingSnapshot = 0;
  /** Leader ticks spent waiting for the pending snapshot (a lost snapshot is re-sent after a while). */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Last indexes of the in-flight appends, oldest first. */
  private inflights: number[] = [];

  constructor(
    next: number,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
      this.pendingSnapshot = 0;
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.inflights = [];
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights = [];
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.inflights = [];
  }

  /** The follower acknowledged `index`; false when that tells nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** An append at `rejected` was refused; `hint` is the follower's last index. False when the refusal is stale. */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append that ends at `last`. */
  sent(last: number): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      this.inflights.push(last);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Frees the in-flight slots acknowledged up to `index`. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.inflights.length && (this.inflights[n] as number) <= index) n++;
    if (n > 0) this.inflights.splice(0, n);
  }

  /** A heartbeat answered: let one more append through even if the window is full (a lost append never frees it). */
  freeFirst(): void {
    if (this.inflights.length >= this.maxInflight) this.inflights.shift();
  }
}
