// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T, Health } from '@ecps/peat';
import type { Capability, Operator } from '@ecps/peat';
import { aggregateCell, squadCapabilities } from '../src/index';
import type { AggregationMember } from '../src/index';
import { cap, operator } from './caps';

const ok = { health: Health.NOMINAL, fuel_minutes: 100 };
function member(id: string, caps: Capability[], operators: Operator[] = [], state: AggregationMember['state'] = ok): AggregationMember {
  return { node_id: id, config: { capabilities: caps, operator_binding: operators.length ? { operators, platform_ids: [id], binding_type: 'direct', bound_at: 0 } : null }, state };
}
const typeOf = (agg: ReturnType<typeof aggregateCell>, t: number) => agg.types.find((x) => x.capability_type === t)!;

describe('checklist 9: aggregation inside a cell', () => {
  it('one sensor at 0.8 → 0.8; three with mean 0.75 → 0.85 (redundancy)', () => {
    expect(typeOf(aggregateCell([member('a', [cap(T.SENSOR, 0.8)])]), T.SENSOR).confidence).toBeCloseTo(0.8, 9);
    const three = aggregateCell([member('a', [cap(T.SENSOR, 0.7)]), member('b', [cap(T.SENSOR, 0.75)]), member('c', [cap(T.SENSOR, 0.8)])]);
    expect(typeOf(three, T.SENSOR).confidence).toBeCloseTo(0.85, 9);
    expect(typeOf(three, T.SENSOR).contributors).toEqual(['a', 'b', 'c']);
    const two = aggregateCell([member('a', [cap(T.SENSOR, 0.5)]), member('b', [cap(T.SENSOR, 0.5)])]);
    expect(typeOf(two, T.SENSOR).confidence).toBeCloseTo(0.55, 9);
    const five = aggregateCell(['a', 'b', 'c', 'd', 'e'].map((id) => member(id, [cap(T.SENSOR, 0.5)])));
    expect(typeOf(five, T.SENSOR).confidence).toBeCloseTo(0.65, 9);
  });

  it('payload 0.7 with a Commander → 0.80 without oversight; 0.9 under an Observer → effective 0.54', () => {
    const p = typeOf(aggregateCell([member('a', [cap(T.PAYLOAD, 0.7)], [operator('Commander')])]), T.PAYLOAD);
    expect(p.confidence).toBeCloseTo(0.8, 9);
    expect(p.requires_oversight).toBe(false);
    const c = typeOf(aggregateCell([member('a', [cap(T.COMMUNICATION, 0.9)], [operator('Observer')])]), T.COMMUNICATION);
    expect(c.requires_oversight).toBe(true);
    expect(c.effective_confidence).toBeCloseTo(0.54, 9);
    // oversight needs confidence 0.8 and an authority present
    expect(c.is_mission_ready).toBe(true);
    const alone = typeOf(aggregateCell([member('a', [cap(T.COMMUNICATION, 0.95)])]), T.COMMUNICATION);
    expect(alone.is_mission_ready).toBe(false);
    expect(alone.effective_confidence).toBeCloseTo(0.475, 9);
    // a payload under a Supervisor still needs oversight (penalty 0.85)
    const sup = typeOf(aggregateCell([member('a', [cap(T.PAYLOAD, 0.8)], [operator('Supervisor')])]), T.PAYLOAD);
    expect(sup.requires_oversight).toBe(true);
    expect(sup.effective_confidence).toBeCloseTo(0.85 * 0.85, 9);
  });

  it('readiness weights the types: Comm 0.95 and Sensor 0.85 → 0.904545, no gaps', () => {
    const agg = aggregateCell([
      member('lead', [cap(T.COMMUNICATION, 0.9)], [operator('Supervisor')]),
      member('s1', [cap(T.SENSOR, 0.7)]),
      member('s2', [cap(T.SENSOR, 0.75)]),
      member('s3', [cap(T.SENSOR, 0.8)]),
    ]);
    expect(typeOf(agg, T.COMMUNICATION).confidence).toBeCloseTo(0.95, 9);
    expect(typeOf(agg, T.SENSOR).confidence).toBeCloseTo(0.85, 9);
    expect(agg.readiness).toBeCloseTo(0.904545, 6);
    expect(agg.gaps).toEqual([]);
  });

  it('gaps name missing or unready required types; non-operational members do not contribute', () => {
    const agg = aggregateCell([member('a', [cap(T.SENSOR, 0.9)]), member('b', [cap(T.COMMUNICATION, 0.9)], [operator('Supervisor')], { health: Health.FAILED, fuel_minutes: 50 })]);
    expect(agg.types.map((t) => t.capability_type)).toEqual([T.SENSOR]);
    expect(agg.gaps).toEqual([T.COMMUNICATION]);
    const noFuel = aggregateCell([member('a', [cap(T.SENSOR, 0.9)], [], { health: Health.NOMINAL, fuel_minutes: 0 })]);
    expect(noFuel.types).toEqual([]);
    expect(noFuel.readiness).toBe(0);
  });

  it('with oversight disabled (labs) nothing needs oversight, and the method says so', () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const agg = aggregateCell([member('a', [cap(T.COMMUNICATION, 0.9)]), member('b', [cap(T.SENSOR, 0.9)])], { oversight: 'disabled', logger });
    expect(agg.oversight_required).toEqual([]);
    expect(agg.gaps).toEqual([]);
    expect(agg.method).toContain('oversight=disabled');
    expect(warnings).toHaveLength(1);
  });

  it('squad capabilities are named <squad>_<Type> with contributors and oversight', () => {
    const agg = aggregateCell([member('a', [cap(T.SENSOR, 0.8)])]);
    expect(squadCapabilities('sq', agg, 5)).toEqual([
      { id: 'sq_SENSOR', name: 'sensor', capability_type: T.SENSOR, confidence: 0.8, metadata: { contributors: ['a'], requires_oversight: false }, registered_at: 5 },
    ]);
  });
});
