// SPDX-License-Identifier: Apache-2.0
// Summaries on the wire (spec §5.2): the publisher sends, once per window and only on change, a numbered
// SummaryDelta carrying the changed fields; the receiver applies deltas in sequence and, when one is missing
// (a gap in the numbers), asks the publisher for a snapshot and replaces its copy with it. An unchanged summary is
// re-sent now and then as a delta of its aggregation time alone, so receivers can tell a quiet leader from a gone one.
import type { Clock } from '@ecps/core';
import { applyDelta, diffSummary } from '@ecps/peat-hierarchy';
import type { CompanySummary, PlatoonSummary, SquadSummary, SummaryDelta } from '@ecps/peat-hierarchy';

export type Echelon = 'squad' | 'platoon' | 'company';
export type AnySummary = SquadSummary | PlatoonSummary | CompanySummary;

/** What a publisher sends: a delta, or (on request) a snapshot. */
export type SummaryWire =
  | { readonly kind: 'summary'; readonly level: Echelon; readonly group: string; readonly delta: SummaryDelta }
  | { readonly kind: 'snapshot'; readonly level: Echelon; readonly group: string; readonly sequence: number; readonly summary: AnySummary };

/** One summary this node publishes (its squad's, platoon's or company's). */
export class SummaryPublisher {
  private last: { summary: AnySummary; sequence: number } | null = null;

  constructor(
    readonly level: Echelon,
    readonly id: string,
  ) {}

  /**
   * The delta turning the last published summary into `summary` (the first one against an empty summary): only
   * the changed fields. Undefined when nothing but the aggregation time changed, unless `keepalive` asks for that.
   */
  next(summary: AnySummary, nowMs: number, keepalive = false): SummaryDelta | undefined {
    const updates = diffSummary(this.last?.summary ?? emptySummary(this.level, this.id), summary);
    if (!keepalive && !updates.some((u) => u.op !== 'UpdateAggregatedAt')) return undefined;
    if (updates.length === 0) return undefined;
    this.last = { summary, sequence: (this.last?.sequence ?? 0) + 1 };
    return { id: this.id, timestamp_us: nowMs * 1000, sequence: this.last.sequence, updates };
  }

  /** The last published summary and its sequence (what a snapshot carries). */
  snapshot(): { summary: AnySummary; sequence: number } | null {
    return this.last;
  }
}

interface Held {
  summary: AnySummary;
  sequence: number;
  group: string;
  /** Local receipt time (publishers' clocks are not compared). */
  heardAt: number;
  publisher: string;
}

export interface SummaryInboxStats {
  applied: number;
  gaps: number;
  snapshots: number;
  rejected: number;
}

/** Most summaries one inbox holds (a peer cannot make it grow without bound). */
const MAX_HELD = 256;
/** A snapshot is asked for again after this long without one. */
const SNAPSHOT_RETRY_MS = 1_000;

/**
 * The summaries of one echelon this node hears (a cell leader: the squads of its zone; a zone leader: the
 * platoons of its company). `requestSnapshot(publisher, level, id)` is called on a gap.
 */
export class SummaryInbox {
  private readonly held = new Map<string, Held>();
  private readonly asked = new Map<string, number>();
  readonly stats: SummaryInboxStats = { applied: 0, gaps: 0, snapshots: 0, rejected: 0 };

  constructor(
    readonly level: Echelon,
    private readonly clock: Clock,
    private readonly requestSnapshot: (publisher: string, id: string) => void,
  ) {}

  /** Applies a delta from `from`; a gap (or a first delta that is not the full one) asks for a snapshot. */
  onDelta(from: string, group: string, delta: SummaryDelta): void {
    const cur = this.held.get(delta.id);
    if (cur && delta.sequence <= cur.sequence) return; // old or duplicate
    const base = cur?.summary ?? (delta.sequence === 1 ? emptySummary(this.level, delta.id) : undefined);
    if (!base || (cur && delta.sequence !== cur.sequence + 1)) {
      this.stats.gaps++;
      this.ask(from, delta.id);
      return;
    }
    try {
      this.keep(delta.id, { summary: applyDelta(base, delta), sequence: delta.sequence, group, heardAt: this.clock.now(), publisher: from });
      this.stats.applied++;
    } catch {
      this.stats.rejected++;
    }
  }

  onSnapshot(from: string, group: string, sequence: number, summary: AnySummary): void {
    const id = idOf(summary);
    if (id === undefined || levelOf(summary) !== this.level) {
      this.stats.rejected++;
      return;
    }
    const cur = this.held.get(id);
    if (cur && cur.sequence >= sequence) return;
    this.asked.delete(id);
    this.stats.snapshots++;
    this.keep(id, { summary, sequence, group, heardAt: this.clock.now(), publisher: from });
  }

  /** Summaries of `group` heard within `freshMs`, with their publisher. */
  fresh(group: string, freshMs: number): { summary: AnySummary; publisher: string }[] {
    const now = this.clock.now();
    return [...this.held.values()].filter((h) => h.group === group && now - h.heardAt <= freshMs).map((h) => ({ summary: h.summary, publisher: h.publisher }));
  }

  get(id: string): AnySummary | undefined {
    return this.held.get(id)?.summary;
  }

  /** Records this node's own summary (a leader counts itself among the squads or platoons it picks from). */
  own(group: string, sequence: number, summary: AnySummary, self: string): void {
    const id = idOf(summary)!;
    this.keep(id, { summary, sequence, group, heardAt: this.clock.now(), publisher: self });
  }

  private keep(id: string, h: Held): void {
    this.held.delete(id);
    this.held.set(id, h);
    if (this.held.size > MAX_HELD) this.held.delete(this.held.keys().next().value!);
  }

  private ask(publisher: string, id: string): void {
    const now = this.clock.now();
    if (now - (this.asked.get(id) ?? -Infinity) < SNAPSHOT_RETRY_MS) return;
    this.asked.set(id, now);
    if (this.asked.size > MAX_HELD) this.asked.delete(this.asked.keys().next().value!);
    this.requestSnapshot(publisher, id);
  }
}

function idOf(s: AnySummary): string | undefined {
  const r = s as unknown as Record<string, unknown>;
  const id = r['squad_id'] ?? r['platoon_id'] ?? r['company_id'];
  return typeof id === 'string' ? id : undefined;
}

function levelOf(s: AnySummary): Echelon | undefined {
  const r = s as unknown as Record<string, unknown>;
  if (!Array.isArray(r['aggregated_capabilities'])) return undefined;
  if (typeof r['squad_id'] === 'string' && Array.isArray(r['member_ids'])) return 'squad';
  if (typeof r['platoon_id'] === 'string' && Array.isArray(r['squad_ids'])) return 'platoon';
  if (typeof r['company_id'] === 'string' && Array.isArray(r['platoon_ids'])) return 'company';
  return undefined;
}

/** The summary a first (full) delta is applied to. */
function emptySummary(level: Echelon, id: string): AnySummary {
  const box = { min_lat: 0, max_lat: 0, min_lon: 0, max_lon: 0, min_alt: 0, max_alt: 0, radius_m: 0 };
  const common = {
    leader_id: '',
    position_centroid: { lat: 0, lon: 0, alt: 0 },
    avg_fuel_minutes: 0,
    worst_health: 0,
    operational_count: 0,
    aggregated_capabilities: [],
    readiness_score: 0,
    bounding_box: box,
    aggregated_at: 0,
    aggregation_metadata: { source_count: 0, excluded_count: 0, aggregation_method: '', performed_at: 0, oldest_source: null, newest_source: null },
  };
  if (level === 'squad') return { ...common, squad_id: id, member_ids: [], member_count: 0 };
  if (level === 'platoon') return { ...common, platoon_id: id, squad_ids: [], squad_count: 0, total_member_count: 0 };
  return { ...common, company_id: id, platoon_ids: [], platoon_count: 0, total_member_count: 0 };
}
