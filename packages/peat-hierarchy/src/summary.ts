// SPDX-License-Identifier: Apache-2.0
// Echelon summaries (spec §5.2): a squad leader summarises its fresh, operational members; platoon and company
// leaders summarise their children's summaries. Every summary says how it was computed and what it left out.
import { PeatError, isOperational } from '@ecps/peat';
import type { Capability, NodeConfig, NodeState } from '@ecps/peat';
import { aggregateCell, squadCapabilities } from '@ecps/peat-compose';
import type { AggregationOptions } from '@ecps/peat-compose';

/** Sources older than this are stale. */
export const SOURCE_STALE_MS = 6_000;
const EARTH_RADIUS_M = 6_371_000;

export interface LatLonAlt {
  readonly lat: number;
  readonly lon: number;
  readonly alt: number;
}

export interface BoundingBox {
  readonly min_lat: number;
  readonly max_lat: number;
  readonly min_lon: number;
  readonly max_lon: number;
  readonly min_alt: number;
  readonly max_alt: number;
  readonly radius_m: number;
}

export interface AggregationMetadata {
  readonly source_count: number;
  readonly excluded_count: number;
  readonly aggregation_method: string;
  readonly performed_at: number;
  readonly oldest_source: number | null;
  readonly newest_source: number | null;
}

/** The fields every echelon summary shares. */
export interface EchelonFields {
  readonly leader_id: string;
  readonly position_centroid: LatLonAlt;
  readonly avg_fuel_minutes: number;
  readonly worst_health: number;
  readonly operational_count: number;
  readonly aggregated_capabilities: readonly Capability[];
  readonly readiness_score: number;
  readonly bounding_box: BoundingBox;
  readonly aggregated_at: number;
  readonly aggregation_metadata: AggregationMetadata;
}

export interface SquadSummary extends EchelonFields {
  readonly squad_id: string;
  readonly member_ids: readonly string[];
  readonly member_count: number;
}

export interface PlatoonSummary extends EchelonFields {
  readonly platoon_id: string;
  readonly squad_ids: readonly string[];
  readonly squad_count: number;
  readonly total_member_count: number;
}

export interface CompanySummary extends EchelonFields {
  readonly company_id: string;
  readonly platoon_ids: readonly string[];
  readonly platoon_count: number;
  readonly total_member_count: number;
}

/** Great-circle distance in metres (R = 6,371,000 m). */
export function haversineM(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The centre of a box: the midpoints of its latitude and longitude ranges. */
export function boxCentre(b: BoundingBox): { lat: number; lon: number } {
  return { lat: (b.min_lat + b.max_lat) / 2, lon: (b.min_lon + b.max_lon) / 2 };
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

type Extent = Omit<BoundingBox, 'radius_m'>;

/** The smallest box holding every extent (a point is an extent of zero size). */
function envelope(items: readonly Extent[]): BoundingBox {
  return {
    min_lat: Math.min(...items.map((b) => b.min_lat)),
    max_lat: Math.max(...items.map((b) => b.max_lat)),
    min_lon: Math.min(...items.map((b) => b.min_lon)),
    max_lon: Math.max(...items.map((b) => b.max_lon)),
    min_alt: Math.min(...items.map((b) => b.min_alt)),
    max_alt: Math.max(...items.map((b) => b.max_alt)),
    radius_m: 0,
  };
}

/** One squad member as its leader last heard it. */
export interface SquadSource {
  readonly node_id: string;
  readonly state: NodeState;
  readonly config: Pick<NodeConfig, 'capabilities' | 'operator_binding'>;
}

export interface SummaryOptions extends AggregationOptions {
  readonly now: number;
  /** Default {@link SOURCE_STALE_MS}. */
  readonly staleMs?: number;
}

/**
 * The squad's summary over its operational, fresh members (member ids and count cover everyone). The box radius is
 * the largest distance from the box centre to a member.
 * @throws PeatError `INVALID_ARGUMENT` when no member is both operational and fresh.
 */
export function squadSummary(squadId: string, leaderId: string, members: readonly SquadSource[], options: SummaryOptions): SquadSummary {
  const staleMs = options.staleMs ?? SOURCE_STALE_MS;
  const used = members.filter((m) => isOperational(m.state) && options.now - m.state.timestamp <= staleMs);
  if (used.length === 0) throw new PeatError('INVALID_ARGUMENT', `squad ${squadId}: no operational, fresh member to summarise`);
  const pos = used.map((m) => ({ lat: m.state.position.latitude, lon: m.state.position.longitude, alt: m.state.position.altitude }));
  const box0 = envelope(pos.map((p) => ({ min_lat: p.lat, max_lat: p.lat, min_lon: p.lon, max_lon: p.lon, min_alt: p.alt, max_alt: p.alt })));
  const centre = boxCentre(box0);
  const aggregation = aggregateCell(used, options);
  const times = used.map((m) => m.state.timestamp);
  return {
    squad_id: squadId,
    leader_id: leaderId,
    member_ids: members.map((m) => m.node_id).sort(),
    member_count: members.length,
    position_centroid: { lat: mean(pos.map((p) => p.lat)), lon: mean(pos.map((p) => p.lon)), alt: mean(pos.map((p) => p.alt)) },
    avg_fuel_minutes: mean(used.map((m) => m.state.fuel_minutes)),
    worst_health: Math.max(...used.map((m) => m.state.health)),
    operational_count: used.length,
    // registered when its oldest input was, so an unchanged capability stays byte-identical between summaries
    aggregated_capabilities: squadCapabilities(squadId, aggregation, Math.min(...used.flatMap((m) => m.config.capabilities.map((c) => c.registered_at)), options.now)),
    readiness_score: aggregation.readiness,
    bounding_box: { ...box0, radius_m: Math.max(...pos.map((p) => haversineM(centre, p))) },
    aggregated_at: options.now,
    aggregation_metadata: {
      source_count: used.length,
      excluded_count: members.length - used.length,
      aggregation_method: aggregation.method,
      performed_at: options.now,
      oldest_source: Math.min(...times),
      newest_source: Math.max(...times),
    },
  };
}

type Child = EchelonFields & { readonly member_count?: number; readonly total_member_count?: number };

/** The echelon fields over children summaries (platoon rules): see {@link platoonSummary}. */
function rollUp(leaderId: string, children: readonly Child[], options: { now: number; staleMs?: number }, label: string): EchelonFields & { total_member_count: number } {
  const staleMs = options.staleMs ?? SOURCE_STALE_MS;
  const used = children.filter((c) => c.operational_count > 0 && options.now - c.aggregated_at <= staleMs);
  if (used.length === 0) throw new PeatError('INVALID_ARGUMENT', `${label}: no fresh child summary with an operational member`);
  const ops = used.reduce((s, c) => s + c.operational_count, 0);
  const weighted = (f: (c: Child) => number) => used.reduce((s, c) => s + f(c) * c.operational_count, 0) / ops;
  const caps = new Map<string, Capability>();
  for (const c of used) for (const cap of c.aggregated_capabilities) if ((caps.get(cap.id)?.confidence ?? -1) < cap.confidence) caps.set(cap.id, cap);
  const box0 = envelope(used.map((c) => c.bounding_box));
  const centre = boxCentre(box0);
  const times = used.map((c) => c.aggregated_at);
  return {
    leader_id: leaderId,
    position_centroid: {
      lat: mean(used.map((c) => c.position_centroid.lat)),
      lon: mean(used.map((c) => c.position_centroid.lon)),
      alt: mean(used.map((c) => c.position_centroid.alt)),
    },
    avg_fuel_minutes: weighted((c) => c.avg_fuel_minutes),
    worst_health: Math.max(...used.map((c) => c.worst_health)),
    operational_count: ops,
    total_member_count: used.reduce((s, c) => s + (c.total_member_count ?? c.member_count ?? 0), 0),
    aggregated_capabilities: [...caps.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
    readiness_score: weighted((c) => c.readiness_score),
    bounding_box: { ...box0, radius_m: Math.max(...used.map((c) => haversineM(centre, boxCentre(c.bounding_box)) + c.bounding_box.radius_m)) },
    aggregated_at: options.now,
    aggregation_metadata: {
      source_count: used.length,
      excluded_count: children.length - used.length,
      aggregation_method: 'mean;op-weighted;union-max',
      performed_at: options.now,
      oldest_source: Math.min(...times),
      newest_source: Math.max(...times),
    },
  };
}

/**
 * A platoon over its squads: unweighted mean of the centroids; fuel and readiness weighted by each squad's
 * operational count; worst health; summed counts; capabilities united by id keeping the higher confidence; the
 * envelope of the boxes, its radius covering every child's circle. Stale squads (older than 6 s) and squads with no
 * operational member are left out and counted. @throws PeatError `INVALID_ARGUMENT` when none is left.
 */
export function platoonSummary(platoonId: string, leaderId: string, squads: readonly SquadSummary[], options: { now: number; staleMs?: number }): PlatoonSummary {
  const f = rollUp(leaderId, squads, options, `platoon ${platoonId}`);
  return { platoon_id: platoonId, squad_ids: squads.map((s) => s.squad_id).sort(), squad_count: squads.length, ...f };
}

/** A company over its platoons, by the platoon rules. @throws PeatError `INVALID_ARGUMENT` when no platoon is usable. */
export function companySummary(companyId: string, leaderId: string, platoons: readonly PlatoonSummary[], options: { now: number; staleMs?: number }): CompanySummary {
  const f = rollUp(leaderId, platoons, options, `company ${companyId}`);
  return { company_id: companyId, platoon_ids: platoons.map((p) => p.platoon_id).sort(), platoon_count: platoons.length, ...f };
}
