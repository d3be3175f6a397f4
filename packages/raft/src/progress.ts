// SPDX-License-Identifier: Apache-2.0
// The leader's view of one follower's log (etcd's tracker.Progress): probe one message at a time until the
// follower's position is known, then pipeline up to `maxInflight` appends, or stream a snapshot in chunks.

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an append is outstanding; wait for its answer or the next heartbeat response. */
  probeSent = false;
  /** Snapshot state: the index of the snapshot being streamed. */
  pendingSnapshot = 0;
  /** Bytes of that snapshot the follower said it holds, and the offset of the next chunk to send. */
  snapshotAcked = 0;
  snapshotSent = 0;
  /** The offset last re-sent after a repeated acknowledgement (a lost chunk is re-sent once, not per answer). */
  snapshotResentFrom = -1;
  /** Leader ticks without progress on the pending snapshot (a stalled transfer is restarted, resuming where it was). */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The highest leader tick stamp this follower echoed in a heartbeat response (the leader lease, -1 = none). */
  ackedStamp = -1;
  /** Last indexes and sizes of the in-flight appends, oldest first. */
  private inflights: { last: number; bytes: number }[] = [];
  private inflightBytes = 0;

  constructor(
    next: number,
    private readonly maxInflight: number,
    private readonly maxInflightBytes = Infinity,
  ) {
    this.next = next;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.length >= this.maxInflight || this.inflightBytes >= this.maxInflightBytes;
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.clearInflights();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.clearInflights();
  }

  /** Starts (or restarts) streaming snapshot `index`; a restart of the same snapshot resumes at the acked offset. */
  becomeSnapshot(index: number): void {
    if (index !== this.pendingSnapshot) this.snapshotAcked = 0;
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotSent = this.snapshotAcked;
    this.snapshotResentFrom = -1;
    this.snapshotTicks = 0;
    this.clearInflights();
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

  /** Records an append that ends at `last` and carries `bytes` of entries. */
  sent(last: number, bytes = 0): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      this.inflights.push({ last, bytes });
      this.inflightBytes += bytes;
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Frees the in-flight slots acknowledged up to `index`. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.inflights.length && (this.inflights[n] as { last: number }).last <= index) {
      this.inflightBytes -= (this.inflights[n] as { bytes: number }).bytes;
      n++;
    }
    if (n > 0) this.inflights.splice(0, n);
  }

  /** A heartbeat answered: let one more append through even if the window is full (a lost append never frees it). */
  freeFirst(): void {
    if (this.inflights.length >= this.maxInflight || this.inflightBytes >= this.maxInflightBytes) {
      this.inflightBytes -= this.inflights.shift()?.bytes ?? 0;
    }
  }

  private clearInflights(): void {
    this.inflights = [];
    this.inflightBytes = 0;
  }
}
