// SPDX-License-Identifier: Apache-2.0
// Events travelling up (spec §5.3). Full events go on at once; Summary events are counted per type and window and
// one summary per window goes up; Query and Local events stay on the node (Query ones can be asked for). Upward
// bandwidth is shared by weighted fair queueing: CRITICAL first, then HIGH 50 %, NORMAL 35 %, LOW the rest, with
// unused HIGH share passed to NORMAL; a full queue drops the lowest priority first.

export type EventPriority = 'CRITICAL' | 'HIGH' | 'NORMAL' | 'LOW';
export type EventMode = 'Full' | 'Summary' | 'Query' | 'Local';

export interface PeatEvent {
  readonly event_type: string;
  readonly source: string;
  readonly priority: EventPriority;
  readonly mode: EventMode;
  readonly timestamp: number;
  readonly payload: unknown;
}

/** What a window of Summary events becomes. */
export interface EventSummary {
  readonly event_type: string;
  readonly count: number;
  readonly sources: readonly string[];
  readonly first: number;
  readonly last: number;
  readonly priority: EventPriority;
}

const RANK: Readonly<Record<EventPriority, number>> = { CRITICAL: 3, HIGH: 2, NORMAL: 1, LOW: 0 };

export interface EventAggregatorOptions {
  /** Window per event type in ms; default 1,000. */
  readonly windowMs?: (eventType: string) => number;
  /** Most Query events kept for answering queries. Default 1,000. */
  readonly maxRetained?: number;
}

/** One echelon's event handling: what goes up now, what goes up per window, what stays. */
export class EventAggregator {
  private readonly windows = new Map<string, { start: number; count: number; sources: Set<string>; first: number; last: number; priority: EventPriority }>();
  private readonly retained: PeatEvent[] = [];

  constructor(private readonly options: EventAggregatorOptions = {}) {}

  /** Returns the events or summaries to forward now (Full events at once; a Summary window that has closed). */
  submit(e: PeatEvent): (PeatEvent | EventSummary)[] {
    const out: (PeatEvent | EventSummary)[] = this.flush(e.timestamp);
    switch (e.mode) {
      case 'Full':
        out.push(e);
        break;
      case 'Summary': {
        const w = this.windows.get(e.event_type) ?? { start: e.timestamp, count: 0, sources: new Set<string>(), first: e.timestamp, last: e.timestamp, priority: e.priority };
        w.count++;
        w.sources.add(e.source);
        w.last = e.timestamp;
        if (RANK[e.priority] > RANK[w.priority]) w.priority = e.priority;
        this.windows.set(e.event_type, w);
        break;
      }
      case 'Query':
        this.retained.push(e);
        if (this.retained.length > (this.options.maxRetained ?? 1_000)) this.retained.shift();
        break;
      case 'Local':
        break;
    }
    return out;
  }

  /** Summaries of every window that has closed by `now` (each event type has its own window). */
  flush(now: number): EventSummary[] {
    const out: EventSummary[] = [];
    for (const [type, w] of this.windows) {
      if (now - w.start < (this.options.windowMs?.(type) ?? 1_000)) continue;
      out.push({ event_type: type, count: w.count, sources: [...w.sources].sort(), first: w.first, last: w.last, priority: w.priority });
      this.windows.delete(type);
    }
    return out;
  }

  /** Retained Query-mode events of a type. */
  query(eventType: string, since = 0): PeatEvent[] {
    return this.retained.filter((e) => e.event_type === eventType && e.timestamp >= since);
  }
}

const SHARES: readonly [EventPriority, number][] = [
  ['HIGH', 0.5],
  ['NORMAL', 0.35],
  ['LOW', 0.15],
];

/** Upward bandwidth scheduling: CRITICAL preempts, the rest share by weight. */
export class WeightedFairQueue<T> {
  private readonly queues: Record<EventPriority, { item: T; bytes: number }[]> = { CRITICAL: [], HIGH: [], NORMAL: [], LOW: [] };
  private size = 0;
  readonly dropped: Record<EventPriority, number> = { CRITICAL: 0, HIGH: 0, NORMAL: 0, LOW: 0 };

  /** `criticalReserve` is the fraction of each round kept for CRITICAL (default 0.1). */
  constructor(
    private readonly capacity = 1_000,
    private readonly criticalReserve = 0.1,
  ) {}

  /** Queues an item; when full, the lowest-priority queued item (or the new one if it is lowest) is dropped. */
  enqueue(item: T, priority: EventPriority, bytes: number): void {
    this.queues[priority].push({ item, bytes });
    this.size++;
    if (this.size <= this.capacity) return;
    for (const p of ['LOW', 'NORMAL', 'HIGH', 'CRITICAL'] as const) {
      if (this.queues[p].length > 0) {
        this.queues[p].pop();
        this.dropped[p]++;
        this.size--;
        return;
      }
    }
  }

  /**
   * Sends up to `budgetBytes` this round: CRITICAL first (it may use the whole budget), then HIGH, NORMAL and LOW
   * each up to their share of the rest; what a class leaves unused is offered to the next ones.
   */
  round(budgetBytes: number): { item: T; priority: EventPriority }[] {
    const out: { item: T; priority: EventPriority }[] = [];
    let left = budgetBytes;
    const take = (p: EventPriority, allowance: number) => {
      let used = 0;
      const q = this.queues[p];
      while (q.length > 0 && used + q[0]!.bytes <= allowance && q[0]!.bytes <= left) {
        const x = q.shift()!;
        used += x.bytes;
        left -= x.bytes;
        this.size--;
        out.push({ item: x.item, priority: p });
      }
      return used;
    };
    take('CRITICAL', left);
    const rest = Math.max(0, Math.min(left, budgetBytes * (1 - this.criticalReserve)));
    let carry = 0;
    for (const [p, share] of SHARES) carry = share * rest + carry - take(p, share * rest + carry);
    // whatever is still unused goes to anyone waiting, highest first
    for (const [p] of SHARES) take(p, left);
    return out;
  }

  get length(): number {
    return this.size;
  }
}
