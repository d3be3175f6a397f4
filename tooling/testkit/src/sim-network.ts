// SPDX-License-Identifier: Apache-2.0
// A deterministic, seeded network and scheduler for simulating distributed algorithms: virtual time, messages
// dropped, delayed (hence reordered) and duplicated at configured rates, symmetric and one-way partitions, crashed
// and paused nodes, and a clock per node that drifts and jumps. The same seed and the same calls give the same run,
// event for event.
import { seededRandom } from '@ecps/core';
import type { Clock, RandomSource, TimerHandle } from '@ecps/core';

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

/** Counters of what the network did (for test diagnostics and for proving that a fault had an effect). */
export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Messages not delivered because of a partition, a one-way cut or a crashed node. */
  blocked: number;
  /** Events (timers, deliveries) held back because their node was paused. */
  deferred: number;
}

/** How a node's clock deviates from virtual time. */
export interface SimClockOptions {
  /** Clock speed: 1.05 runs 5 % fast (its timers fire early, its durations read long). Default 1. */
  readonly rate?: number;
  /** Wall-clock offset in ms added to `now()` (not to `monotonic()`). Default 0. */
  readonly offsetMs?: number;
}

interface NodeState {
  incarnation: number;
  down: boolean;
  pausedUntil: number;
  rate: number;
  offsetMs: number;
  /** Virtual time and monotonic reading at the last rate change (the monotonic clock stays continuous). */
  anchorAt: number;
  anchorMono: number;
}

/** Wall time of virtual time 0. */
const EPOCH_MS = 1_750_000_000_000;

/**
 * Virtual time and message delivery. Node ids are strings. A message from `a` to `b` is delivered only when `b` is
 * up and not restarted since the send, and `a` can reach `b` both when it is sent and when it arrives. A paused node
 * runs nothing (no timer fires, nothing is delivered to it) until it resumes, then catches up in order.
 */
export class SimNetwork<M> {
  readonly random: RandomSource;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0, deferred: 0 };
  dropRate: number;
  duplicateRate: number;
  minDelay: number;
  maxDelay: number;
  private time = 0;
  private seq = 0;
  private heap: ScheduledEvent[] = [];
  private readonly nodes = new Map<string, NodeState>();
  private groupOf = new Map<string, number>();
  private readonly oneWay = new Set<string>();
  private nextGroup = 1;
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

  /** Runs `fn` after `delay` virtual ms, whatever happens to any node. Events at one instant run in scheduling order. */
  schedule(delay: number, fn: () => void): void {
    this.push({ at: this.time + Math.max(0, delay), seq: this.seq++, fn });
  }

  /**
   * Runs `fn` after `delay` virtual ms as code of node `id`: dropped if the node crashes (or restarts) first, held
   * back while it is paused.
   */
  scheduleOn(id: string, delay: number, fn: () => void, incarnation = this.node(id).incarnation): void {
    const run = () => {
      const n = this.node(id);
      if (n.down || n.incarnation !== incarnation) return;
      if (n.pausedUntil > this.time) {
        this.stats.deferred++;
        this.push({ at: n.pausedUntil, seq: this.seq++, fn: run });
        return;
      }
      fn();
    };
    this.schedule(delay, run);
  }

  /** Sends `message`, subject to the loss, delay and duplication rates and to partitions. */
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
      this.scheduleOn(to, this.delay(), () => {
        // the partition may have happened while the message was in flight
        if (!this.connected(from, to)) {
          this.stats.blocked++;
          return;
        }
        this.stats.delivered++;
        this.deliver(to, message, from);
      });
    }
  }

  /**
   * Splits the network: nodes in different groups cannot reach each other, and every node not listed (clients
   * included) belongs to one more group of its own. Replaces earlier partitions; one-way cuts stay.
   */
  partition(groups: readonly (readonly string[])[]): void {
    this.groupOf = new Map();
    for (const g of groups) {
      const id = this.nextGroup++;
      for (const node of g) this.groupOf.set(node, id);
    }
  }

  /** Cuts each listed node off from every other node, keeping the other nodes' groups. */
  isolate(...ids: readonly string[]): void {
    for (const id of ids) this.groupOf.set(id, this.nextGroup++);
  }

  /** Drops what `from` sends to `to` only (`to` still reaches `from`): an asymmetric fault. */
  cutOneWay(from: string, to: string): void {
    this.oneWay.add(`${from}\u0000${to}`);
  }

  /** Removes every partition and one-way cut. */
  heal(): void {
    this.groupOf = new Map();
    this.oneWay.clear();
  }

  /** Crashes a node: nothing reaches it, and its pending timers and in-flight deliveries are lost. */
  crash(id: string): void {
    const n = this.node(id);
    n.down = true;
    n.incarnation++;
    n.pausedUntil = 0;
  }

  /** Brings a crashed node back (a new incarnation: nothing scheduled for the old one runs). */
  restart(id: string): void {
    this.node(id).down = false;
  }

  isUp(id: string): boolean {
    return !this.node(id).down;
  }

  /** Freezes a node for `ms` (a GC or VM pause): its timers and deliveries wait and then run in order. */
  pause(id: string, ms: number): void {
    const n = this.node(id);
    n.pausedUntil = Math.max(n.pausedUntil, this.time + ms);
  }

  isPaused(id: string): boolean {
    return this.node(id).pausedUntil > this.time;
  }

  /** The incarnation of a node (bumped by every crash). */
  incarnation(id: string): number {
    return this.node(id).incarnation;
  }

  /** Changes how a node's clock runs from now on (the monotonic reading stays continuous). */
  setClock(id: string, options: SimClockOptions): void {
    const n = this.node(id);
    n.anchorMono = this.monotonicOf(n);
    n.anchorAt = this.time;
    if (options.rate !== undefined) {
      if (!(options.rate > 0)) throw new RangeError('clock rate must be positive');
      n.rate = options.rate;
    }
    if (options.offsetMs !== undefined) n.offsetMs = options.offsetMs;
  }

  /** Steps a node's wall clock by `deltaMs` (negative = backwards, as an NTP correction does). Monotonic time is unaffected. */
  jumpClock(id: string, deltaMs: number): void {
    this.node(id).offsetMs += deltaMs;
  }

  /**
   * The clock of node `id` as its current incarnation (process) sees it: wall and monotonic time at the node's rate,
   * and timers that fire on the node's time, wait while it is paused, and die with the incarnation (timers set
   * through this clock after the node crashed never fire). A restarted node takes a new clock.
   */
  clock(id: string): Clock {
    const state = () => this.node(id);
    const incarnation = state().incarnation;
    const cancelled = new Set<object>();
    return {
      now: () => EPOCH_MS + state().offsetMs + this.monotonicOf(state()),
      nowNs: () => BigInt(Math.floor((EPOCH_MS + state().offsetMs + this.monotonicOf(state())) * 1e6)),
      monotonic: () => this.monotonicOf(state()),
      setTimeout: (fn, ms) => {
        const handle = {};
        this.scheduleOn(
          id,
          Math.max(0, ms) / state().rate,
          () => {
            if (!cancelled.delete(handle)) fn();
          },
          incarnation,
        );
        return handle as TimerHandle;
      },
      clearTimeout: (handle) => {
        if (typeof handle === 'object' && handle !== null) cancelled.add(handle);
      },
    };
  }

  /** True when a message from `a` would reach `b` now. */
  connected(a: string, b: string): boolean {
    if (this.node(a).down || this.node(b).down) return false;
    if (a === b) return true;
    if (this.oneWay.has(`${a}\u0000${b}`)) return false;
    return (this.groupOf.get(a) ?? 0) === (this.groupOf.get(b) ?? 0);
  }

  /** Runs events until virtual time `until` (inclusive) or until none are left. Synchronous code only. */
  runUntil(until: number): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) break;
      this.step(top);
    }
    if (this.time < until) this.time = until;
  }

  /** Runs events until `done()` holds (checked after each event) or virtual time passes `until`; true when done. */
  runWhile(done: () => boolean, until: number): boolean {
    for (;;) {
      if (done()) return true;
      const top = this.heap[0];
      if (!top || top.at > until) return done();
      this.step(top);
    }
  }

  /** {@link runUntil} for code that uses promises: every microtask an event starts runs before the next event. */
  async runUntilAsync(until: number): Promise<void> {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) break;
      this.step(top);
      await drainMicrotasks();
    }
    if (this.time < until) this.time = until;
  }

  /** {@link runWhile} for code that uses promises. */
  async runWhileAsync(done: () => boolean, until: number): Promise<boolean> {
    await drainMicrotasks();
    for (;;) {
      if (done()) return true;
      const top = this.heap[0];
      if (!top || top.at > until) return done();
      this.step(top);
      await drainMicrotasks();
    }
  }

  private node(id: string): NodeState {
    let n = this.nodes.get(id);
    if (!n) {
      n = { incarnation: 0, down: false, pausedUntil: 0, rate: 1, offsetMs: 0, anchorAt: this.time, anchorMono: 0 };
      this.nodes.set(id, n);
    }
    return n;
  }

  private monotonicOf(n: NodeState): number {
    return n.anchorMono + (this.time - n.anchorAt) * n.rate;
  }

  private step(top: ScheduledEvent): void {
    this.pop();
    this.time = top.at;
    top.fn();
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

/** Resolves after every microtask queued so far (and those they queue) has run. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
