// SPDX-License-Identifier: Apache-2.0
// Summary deltas (spec §5.2): the leader compares the new summary with the one it last published and sends only
// what changed, as a numbered list of operations. Applying the delta to the old summary gives the new one.
import { PeatError } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import type { AggregationMetadata, BoundingBox, CompanySummary, LatLonAlt, PlatoonSummary, SquadSummary } from './summary';

export type SummaryOp =
  | { readonly op: 'SetLeaderId'; readonly value: string }
  | { readonly op: 'SetMemberCount' | 'SetTotalMemberCount' | 'SetOperationalCount' | 'SetAvgFuelMinutes' | 'SetWorstHealth' | 'SetReadinessScore'; readonly value: number }
  | { readonly op: 'UpdatePositionCentroid'; readonly value: LatLonAlt }
  | { readonly op: 'UpdateBoundingBox'; readonly value: BoundingBox }
  /** Carries the metadata too: it changes whenever the summary is recomputed. */
  | { readonly op: 'UpdateAggregatedAt'; readonly value: number; readonly metadata: AggregationMetadata }
  | { readonly op: 'AddMemberId' | 'RemoveMemberId' | 'AddSquadId' | 'RemoveSquadId' | 'AddPlatoonId' | 'RemovePlatoonId'; readonly value: string }
  | { readonly op: 'AddCapability'; readonly value: Capability }
  | { readonly op: 'RemoveCapability'; readonly value: string };

export interface SummaryDelta {
  /** The squad, platoon or company id. */
  readonly id: string;
  readonly timestamp_us: number;
  /** +1 per delta. */
  readonly sequence: number;
  readonly updates: readonly SummaryOp[];
}

type AnySummary = SquadSummary | PlatoonSummary | CompanySummary;

const SCALARS = [
  ['member_count', 'SetMemberCount'],
  ['total_member_count', 'SetTotalMemberCount'],
  ['operational_count', 'SetOperationalCount'],
  ['avg_fuel_minutes', 'SetAvgFuelMinutes'],
  ['worst_health', 'SetWorstHealth'],
  ['readiness_score', 'SetReadinessScore'],
] as const;

function idList(s: AnySummary): { ids: readonly string[]; add: 'AddMemberId' | 'AddSquadId' | 'AddPlatoonId'; remove: 'RemoveMemberId' | 'RemoveSquadId' | 'RemovePlatoonId'; field: string } {
  if ('member_ids' in s) return { ids: s.member_ids, add: 'AddMemberId', remove: 'RemoveMemberId', field: 'member_ids' };
  if ('squad_ids' in s) return { ids: s.squad_ids, add: 'AddSquadId', remove: 'RemoveSquadId', field: 'squad_ids' };
  return { ids: s.platoon_ids, add: 'AddPlatoonId', remove: 'RemovePlatoonId', field: 'platoon_ids' };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The operations turning `prev` into `next` (only changed fields; a changed capability is re-added). */
export function diffSummary<S extends AnySummary>(prev: S, next: S): SummaryOp[] {
  const ops: SummaryOp[] = [];
  if (prev.leader_id !== next.leader_id) ops.push({ op: 'SetLeaderId', value: next.leader_id });
  for (const [field, op] of SCALARS) {
    const a = (prev as unknown as Record<string, unknown>)[field];
    const b = (next as unknown as Record<string, unknown>)[field];
    if (b !== undefined && a !== b) ops.push({ op, value: b as number });
  }
  if (!same(prev.position_centroid, next.position_centroid)) ops.push({ op: 'UpdatePositionCentroid', value: next.position_centroid });
  if (!same(prev.bounding_box, next.bounding_box)) ops.push({ op: 'UpdateBoundingBox', value: next.bounding_box });
  const a = idList(prev);
  const b = idList(next);
  for (const id of b.ids) if (!a.ids.includes(id)) ops.push({ op: b.add, value: id });
  for (const id of a.ids) if (!b.ids.includes(id)) ops.push({ op: b.remove, value: id });
  const before = new Map(prev.aggregated_capabilities.map((c) => [c.id, c]));
  const after = new Map(next.aggregated_capabilities.map((c) => [c.id, c]));
  for (const [id, c] of after) if (!same(before.get(id), c)) ops.push({ op: 'AddCapability', value: c });
  for (const id of before.keys()) if (!after.has(id)) ops.push({ op: 'RemoveCapability', value: id });
  if (prev.aggregated_at !== next.aggregated_at || !same(prev.aggregation_metadata, next.aggregation_metadata)) {
    ops.push({ op: 'UpdateAggregatedAt', value: next.aggregated_at, metadata: next.aggregation_metadata });
  }
  return ops;
}

/**
 * Builds numbered deltas for one summary: `next(summary)` returns the delta against the last published summary
 * (undefined when nothing changed, so an unchanged summary is never re-sent).
 */
export class DeltaPublisher<S extends AnySummary> {
  private last: S | undefined;
  private sequence = 0;

  constructor(private readonly id: string) {}

  /** The delta to publish for `summary`; the first is a full one; undefined when only the aggregation time moved. */
  next(summary: S, timestampUs: number): SummaryDelta | undefined {
    const updates = this.last ? diffSummary(this.last, summary) : fullOps(summary);
    if (!updates.some((u) => u.op !== 'UpdateAggregatedAt')) return undefined;
    this.last = summary;
    return { id: this.id, timestamp_us: timestampUs, sequence: ++this.sequence, updates };
  }
}

function fullOps(s: AnySummary): SummaryOp[] {
  const empty = { ...s, leader_id: '', member_count: -1, total_member_count: -1, operational_count: -1, avg_fuel_minutes: -1, worst_health: -1, readiness_score: -1, position_centroid: null, bounding_box: null, aggregated_capabilities: [], aggregated_at: -1 } as unknown as AnySummary;
  const ids = idList(s);
  (empty as unknown as Record<string, unknown>)[ids.field] = [];
  return diffSummary(empty, s);
}

/**
 * Applies `delta` to `summary` (which must be at `delta.sequence − 1`, tracked by the caller).
 * @throws PeatError `INVALID_ARGUMENT` for an op that does not fit the summary's echelon.
 */
export function applyDelta<S extends AnySummary>(summary: S, delta: SummaryDelta): S {
  const out = { ...summary } as Record<string, unknown>;
  const list = idList(summary);
  let ids = [...list.ids];
  const caps = new Map(summary.aggregated_capabilities.map((c) => [c.id, c]));
  for (const u of delta.updates) {
    switch (u.op) {
      case 'SetLeaderId':
        out['leader_id'] = u.value;
        break;
      case 'UpdatePositionCentroid':
        out['position_centroid'] = u.value;
        break;
      case 'UpdateBoundingBox':
        out['bounding_box'] = u.value;
        break;
      case 'UpdateAggregatedAt':
        out['aggregated_at'] = u.value;
        out['aggregation_metadata'] = u.metadata;
        break;
      case 'AddCapability':
        caps.set(u.value.id, u.value);
        break;
      case 'RemoveCapability':
        caps.delete(u.value);
        break;
      case 'AddMemberId':
      case 'AddSquadId':
      case 'AddPlatoonId':
        if (u.op !== list.add) throw new PeatError('INVALID_ARGUMENT', `${u.op} does not apply to this summary`);
        if (!ids.includes(u.value)) ids = [...ids, u.value].sort();
        break;
      case 'RemoveMemberId':
      case 'RemoveSquadId':
      case 'RemovePlatoonId':
        if (u.op !== list.remove) throw new PeatError('INVALID_ARGUMENT', `${u.op} does not apply to this summary`);
        ids = ids.filter((x) => x !== u.value);
        break;
      default: {
        const field = SCALARS.find(([, op]) => op === u.op)![0];
        if (!(field in summary)) throw new PeatError('INVALID_ARGUMENT', `${u.op} does not apply to this summary`);
        out[field] = u.value;
      }
    }
  }
  out[list.field] = ids;
  if ('squad_ids' in summary) out['squad_count'] = ids.length;
  if ('platoon_ids' in summary) out['platoon_count'] = ids.length;
  out['aggregated_capabilities'] = [...caps.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  return out as S;
}
