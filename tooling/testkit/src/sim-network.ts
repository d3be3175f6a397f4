// SPDX-License-Identifier: Apache-2.0
// A deterministic, seeded network and scheduler for simulating distributed algorithms: virtual time, messages
// dropped, delayed (hence reordered) and duplicated at configured rates, partitions, and crashed nodes. The same
// seed and the same calls give the same run, event for event.
import { seededRandom } from '@ecps/core';
import type { RandomSource } from '@ecps/core';

export interface SimNetworkOptions {
  readonly seed: number;
  /** Probability a message is lost. Default 0. */
  readonly dropRate?: number;
  /** Probability a delivered message is delivered a second time (later). Default 0. */
  readonly duplicateRate?: number;
  /** Delivery delay in virtual ms, uniform in [minDelay, maxDelay]; a spread reorders messages. Default 1..10. */
  readonly minDelay?: number;
  readonly maxDelay?: number;
}

interface ScheduledEvent {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Counters of what the network did (for test diagnostics). */
export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  blocked: number;
}

/**
 * Virtual time and message delivery. Node ids are strings; a message from `a` to `b` is delivered only when both
 * are up and on the same side of every partition at delivery time.
 */
export class SimNetwork<M> {
  readonly random: RandomSource;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0 };
  dropRate: number;
  duplicateRate: number;
  minDelay: number;
  maxDelay: number;
  private time = 0;
  private seq = 0;
  private heap: ScheduledEvent[] = [];
  private readonly down = new Set<string>();
  private groupOf = new Map<string, number>();
  private deliver: (to: string, message: M, from: string) => void = () => {};

  constructor(options: SimNetworkOptions) {
    this.random = seededRandom(options.seed);
    this.dropRate = options.dropRate ?? 0;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.minDelay = options.minDelay ?? 1;
    this.maxDelay = options.maxDelay ?? 10;
  }

  /** Virtual milliseconds since the start. */
  get now(): number {
    return this.time;
  }

  /** Sets who receives messages. */
  onDeliver(fn: (to: string, message: M, from: string) => void): void {
    this.deliver = fn;
  }

  /** Runs `fn` after `delay` virtual ms. Events at the same instant run in scheduling order. */
  schedule(delay: number, fn: () => void): void {
    this.push({ at: this.time + Math.max(0, delay), seq: this.seq++, fn });
  }

  /** Sends `message`, subject to the loss, delay and duplication rates. */
  send(from: string, to: string, message: M): void {
    this.stats.sent++;
    if (!this.connected(from, to)) {
      this.stats.blocked++;
      return;
    }
    if (this.random.float() < this.dropRate) {
      this.stats.dropped++;
      return;
    }
    const copies = this.random.float() < this.duplicateRate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      this.schedule(this.delay(), () => {
        // the partition or a crash may have happened while the message was in flight
        if (!this.connected(from, to)) {
          this.stats.blocked++;
          return;
        }
        this.stats.delivered++;
        this.deliver(to, message, from);
      });
    }
  }

  /** Splits the listed nodes into groups that cannot talk to each other; unlisted nodes (clients) reach everyone. */
  partition(groups: readonly (readonly string[])[]): void {
    this.groupOf = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.groupOf.set(id, i + 1)));
  }

  /** Removes every partition. */
  heal(): void {
    this.groupOf = new Map();
  }

  /** Marks a node down: nothing reaches it or leaves it until {@link restart}. */
  crash(id: string): void {
    this.down.add(id);
  }

  restart(id: string): void {
    this.down.delete(id);
  }

  isUp(id: string): boolean {
    return !this.down.has(id);
  }

  connected(a: string, b: string): boolean {
    if (this.down.has(a) || this.down.has(b)) return false;
    const ga = this.groupOf.get(a);
    const gb = this.groupOf.get(b);
    return ga === undefined || gb === undefined || ga === gb;
  }

  /** Runs events until virtual time `until` (inclusive) or until none are left. */
  runUntil(until: number): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) break;
      this.pop();
      this.time = top.at;
      top.fn();
    }
    if (this.time < until) this.time = until;
  }

  /** Runs events until `done()` holds (checked after each event) or virtual time passes `until`; true when done. */
  runWhile(done: () => boolean, until: number): boolean {
    for (;;) {
      if (done()) return true;
      const top = this.heap[0];
      if (!top || top.at > until) return done();
      this.pop();
      this.time = top.at;
      top.fn();
    }
  }

  private delay(): number {
    return this.minDelay + this.random.int(this.maxDelay - this.minDelay + 1);
  }

  private less(a: ScheduledEvent, b: ScheduledEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: ScheduledEvent): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i] as ScheduledEvent, h[p] as ScheduledEvent)) break;
      [h[i], h[p]] = [h[p] as ScheduledEvent, h[i] as ScheduledEvent];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as ScheduledEvent;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l] as ScheduledEvent, h[m] as ScheduledEvent)) m = l;
      if (r < h.length && this.less(h[r] as ScheduledEvent, h[m] as ScheduledEvent)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m] as ScheduledEvent, h[i] as ScheduledEvent];
      i = m;
    }
  }
}
