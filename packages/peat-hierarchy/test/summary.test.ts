// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T, Health } from '@ecps/peat';
import type { NodeState } from '@ecps/peat';
import { DeltaPublisher, applyDelta, companySummary, diffSummary, platoonSummary, squadSummary } from '../src/index';
import type { SquadSource, SquadSummary } from '../src/index';

const NOW = 1_750_000_000_000;
const sup = { operators: [{ id: 'o', rank: 'E7', authority_level: 'Supervisor', mos: '11B', cognitive_load: 0.2, fatigue: 0.1, effectiveness: 1 }], platform_ids: [], binding_type: 'direct', bound_at: 0 };
function member(id: string, lat: number, lon: number, alt: number, fuel: number, health: number, extra: Partial<NodeState> = {}): SquadSource {
  return {
    node_id: id,
    state: { position: { latitude: lat, longitude: lon, altitude: alt }, fuel_minutes: fuel, health, phase: 3, cell_id: 's1', zone_id: null, timestamp: NOW - 1_000, ...extra },
    config: { capabilities: [{ id: `${id}-c`, name: 'radio', capability_type: T.COMMUNICATION, confidence: 0.9, metadata: {}, registered_at: 0 }], operator_binding: id === 'a' ? sup : null },
  };
}
const vector = () => [member('a', 34.0, -117.0, 100, 120, Health.NOMINAL), member('b', 34.002, -117.0, 110, 90, Health.DEGRADED), member('c', 34.0, -117.003, 120, 60, Health.NOMINAL)];

describe('checklist 14: summaries', () => {
  it('squad vector: centroid (34.000667, −117.001, 110), fuel 90, worst 2, box centre (34.001, −117.0015), radius 177.44 ± 0.5 m', () => {
    const s = squadSummary('s1', 'a', vector(), { now: NOW });
    expect(s.position_centroid.lat).toBeCloseTo(34.000667, 6);
    expect(s.position_centroid.lon).toBeCloseTo(-117.001, 9);
    expect(s.position_centroid.alt).toBeCloseTo(110, 9);
    expect(s.avg_fuel_minutes).toBeCloseTo(90, 9);
    expect(s.worst_health).toBe(2);
    expect((s.bounding_box.min_lat + s.bounding_box.max_lat) / 2).toBeCloseTo(34.001, 9);
    expect((s.bounding_box.min_lon + s.bounding_box.max_lon) / 2).toBeCloseTo(-117.0015, 9);
    expect(Math.abs(s.bounding_box.radius_m - 177.44)).toBeLessThanOrEqual(0.5);
    expect(s.member_count).toBe(3);
    expect(s.aggregated_capabilities.map((c) => c.id)).toEqual(['s1_COMMUNICATION']);
  });

  it('stale and non-operational members are excluded and counted; member ids still cover everyone; none left is an error', () => {
    const ms = [...vector(), member('d', 34, -117, 0, 0, Health.NOMINAL), member('e', 34, -117, 0, 50, Health.NOMINAL, { timestamp: NOW - 6_001 })];
    const s = squadSummary('s1', 'a', ms, { now: NOW });
    expect(s.aggregation_metadata).toMatchObject({ source_count: 3, excluded_count: 2, oldest_source: NOW - 1_000, newest_source: NOW - 1_000, performed_at: NOW });
    expect(s.operational_count).toBe(3);
    expect(s.member_ids).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.aggregation_metadata.aggregation_method).toContain('oversight=on');
    expect(() => squadSummary('s1', 'a', [], { now: NOW })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => squadSummary('s1', 'a', ms.slice(3), { now: NOW })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('platoon vector: squads (op 8, fuel 100, readiness 0.9) and (op 4, fuel 40, readiness 0.6) → fuel 80, readiness 0.8; company rolls up platoons', () => {
    const base = squadSummary('s1', 'a', vector(), { now: NOW });
    const s1: SquadSummary = { ...base, squad_id: 's1', operational_count: 8, member_count: 8, avg_fuel_minutes: 100, readiness_score: 0.9 };
    const s2: SquadSummary = { ...base, squad_id: 's2', operational_count: 4, member_count: 5, avg_fuel_minutes: 40, readiness_score: 0.6, worst_health: 3 };
    const p = platoonSummary('p1', 'a', [s1, s2], { now: NOW });
    expect(p.avg_fuel_minutes).toBeCloseTo(80, 9);
    expect(p.readiness_score).toBeCloseTo(0.8, 9);
    expect(p).toMatchObject({ squad_count: 2, total_member_count: 13, operational_count: 12, worst_health: 3, squad_ids: ['s1', 's2'] });
    // envelope radius covers each child's circle: identical children → the child radius
    expect(p.bounding_box.radius_m).toBeCloseTo(base.bounding_box.radius_m, 6);
    const c = companySummary('co', 'a', [p, { ...p, platoon_id: 'p2', aggregated_at: NOW - 7_000 }], { now: NOW });
    expect(c).toMatchObject({ platoon_count: 2, total_member_count: 13, aggregation_metadata: { source_count: 1, excluded_count: 1 } });
  });
});

describe('checklist 14: deltas carry only the changed fields', () => {
  it('one changed member moves fuel and the centroid, and nothing else', () => {
    const a = squadSummary('s1', 'a', vector(), { now: NOW });
    const ms = vector();
    ms[2] = member('c', 34.0, -117.003, 130, 30, Health.NOMINAL);
    const b = squadSummary('s1', 'a', ms, { now: NOW + 1_000 });
    const ops = diffSummary(a, b).map((o) => o.op);
    expect(ops.sort()).toEqual(['SetAvgFuelMinutes', 'UpdateAggregatedAt', 'UpdateBoundingBox', 'UpdatePositionCentroid'].sort());
    expect(applyDelta(a, { id: 's1', timestamp_us: 0, sequence: 2, updates: diffSummary(a, b) })).toEqual(b);
  });

  it('membership and capability changes are add/remove ops; the publisher numbers deltas and skips unchanged summaries', () => {
    const pub = new DeltaPublisher<SquadSummary>('s1');
    const a = squadSummary('s1', 'a', vector(), { now: NOW });
    const first = pub.next(a, 1)!;
    expect(first.sequence).toBe(1);
    expect(applyDelta({ ...a, member_ids: [], aggregated_capabilities: [] }, first)).toEqual(a);
    expect(pub.next(squadSummary('s1', 'a', vector(), { now: NOW + 500 }), 2)).toBeUndefined();
    const ms = [...vector(), member('d', 34.0, -117.0, 100, 120, Health.NOMINAL)];
    const b = squadSummary('s1', 'a', ms, { now: NOW + 1_000 });
    const d = pub.next(b, 3)!;
    expect(d.sequence).toBe(2);
    expect(d.updates.map((u) => u.op)).toEqual(expect.arrayContaining(['AddMemberId', 'SetMemberCount', 'AddCapability']));
    expect(d.updates.find((u) => u.op === 'AddMemberId')!.value).toBe('d');
    expect(d.updates.map((u) => u.op)).not.toContain('SetLeaderId');
    expect(() => applyDelta(a, { id: 's1', timestamp_us: 0, sequence: 9, updates: [{ op: 'AddSquadId', value: 'x' }] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
