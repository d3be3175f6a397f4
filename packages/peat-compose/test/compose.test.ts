// SPDX-License-Identifier: Apache-2.0
import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import {
  authorizationCoverage,
  communicationBandwidth,
  communicationRangeConstraint,
  compose,
  continuousCoverage,
  defaultRules,
  detectionReliability,
  faultTolerance,
  isrChain,
  mapping3d,
  missionDurationConstraint,
  multiDomainCoverage,
  payloadCapacity,
  sensorCoverage,
  sensorDomains,
  strikeChain,
  teamSpeedConstraint,
  authorizationBonus,
  hasCommander,
} from '../src/index';
import type { CompositionContext, CompositionRule } from '../src/index';
import { cap, config, operator } from './caps';

const ctx = (configs = [config('n1', [])]): CompositionContext => ({ node_ids: configs.map((c) => c.id), timestamp: 42, node_configs: configs });

function run(rule: CompositionRule, caps: Capability[], c = ctx()) {
  expect(rule.appliesTo(caps, c)).toBe(true);
  const r = rule.compose(caps, c);
  expect(r.composed_capabilities).toHaveLength(1);
  return { result: r, out: r.composed_capabilities[0]! };
}

describe('checklist 11: composition rules, triggers and formulas', () => {
  it('has 14 rules with distinct patterns', () => {
    const rules = defaultRules();
    expect(rules).toHaveLength(14);
    expect(new Set(rules.map((r) => r.name)).size).toBe(14);
  });

  it('detection_reliability: (0.7, 0.7) → 0.91, (0.7 ×3) → 0.973; min 0.5 with (0.6, 0.6) → 0.84', () => {
    expect(run(detectionReliability(), [cap(T.SENSOR, 0.7), cap(T.SENSOR, 0.7)]).out.confidence).toBeCloseTo(0.91, 9);
    const three = run(detectionReliability(), [cap(T.SENSOR, 0.7), cap(T.SENSOR, 0.7), cap(T.SENSOR, 0.7)]).out;
    expect(three.confidence).toBeCloseTo(0.973, 9);
    expect(three.metadata['reliability_improvement']).toBeCloseTo(0.273, 9);
    expect(run(detectionReliability(0.5), [cap(T.SENSOR, 0.6), cap(T.SENSOR, 0.6)]).out.confidence).toBeCloseTo(0.84, 9);
    // trigger: two sensors at the minimum
    expect(detectionReliability().appliesTo([cap(T.SENSOR, 0.7), cap(T.SENSOR, 0.59)], ctx())).toBe(false);
  });

  it('fault_tolerance: COMMUNICATION (0.8 ×3) → 0.992; needs three of the configured type', () => {
    expect(run(faultTolerance(), [cap(T.COMMUNICATION, 0.8), cap(T.COMMUNICATION, 0.8), cap(T.COMMUNICATION, 0.8)]).out.confidence).toBeCloseTo(0.992, 9);
    expect(faultTolerance().appliesTo([cap(T.COMMUNICATION, 0.8), cap(T.COMMUNICATION, 0.8)], ctx())).toBe(false);
    expect(faultTolerance(T.COMPUTE).appliesTo([cap(T.COMPUTE, 0.8), cap(T.COMPUTE, 0.8), cap(T.COMPUTE, 0.8)], ctx())).toBe(true);
  });

  it('additive: sensor_coverage 100 @ .8 + 250 @ .6 → area 350, count 2, confidence 0.7; payload and bandwidth sum too', () => {
    const { out } = run(sensorCoverage, [cap(T.SENSOR, 0.8, { coverage_area: 100 }), cap(T.SENSOR, 0.6, { coverage_area: 250 })]);
    expect(out.metadata).toMatchObject({ coverage_area: 350, sensor_count: 2, composition_type: 'additive', pattern: 'sensor_coverage' });
    expect(out.confidence).toBeCloseTo(0.7, 9);
    // a missing value counts as 0
    expect(run(payloadCapacity, [cap(T.PAYLOAD, 0.5, { lift_capacity: 20 }), cap(T.PAYLOAD, 0.7)]).out.metadata).toMatchObject({ lift_capacity: 20, payload_count: 2 });
    expect(run(communicationBandwidth, [cap(T.COMMUNICATION, 0.5, { bandwidth: 10 }), cap(T.COMMUNICATION, 0.7, { bandwidth: 5 })]).out.metadata).toMatchObject({ bandwidth: 15, comm_count: 2 });
    expect(sensorCoverage.appliesTo([cap(T.SENSOR, 0.8)], ctx())).toBe(false);
  });

  it('continuous_coverage (0.8, 0.6) → 0.76; sensors without coverage_area are left out', () => {
    const { out } = run(continuousCoverage, [cap(T.SENSOR, 0.8, { coverage_area: 1 }), cap(T.SENSOR, 0.6, { coverage_area: 2 }), cap(T.SENSOR, 0.1)]);
    expect(out.confidence).toBeCloseTo(0.76, 9);
    expect(out.metadata['overlap']).toBeCloseTo(0.3, 9);
    expect(continuousCoverage.appliesTo([cap(T.SENSOR, 0.8, { coverage_area: 1 }), cap(T.SENSOR, 0.6)], ctx())).toBe(false);
  });

  it('authorization_coverage: comms .9 + Commander → 0.84 and can_authorize_strike; a Supervisor is below the default threshold', () => {
    const cmd = ctx([config('hq', [], [operator('Commander', 'O3')])]);
    const { out } = run(authorizationCoverage(), [cap(T.COMMUNICATION, 0.9)], cmd);
    expect(out.confidence).toBeCloseTo(0.84, 9);
    expect(out.metadata).toMatchObject({ can_authorize_strike: true, authorizing_node: 'hq' });
    expect(hasCommander(cmd)).toBe(true);
    expect(authorizationBonus(cmd)).toBe(4);
    const sup = ctx([config('n', [], [operator('Supervisor')])]);
    expect(authorizationCoverage().appliesTo([cap(T.COMMUNICATION, 0.9)], sup)).toBe(false);
    const { out: supOut } = run(authorizationCoverage('Supervisor'), [cap(T.COMMUNICATION, 0.9)], sup);
    expect(supOut.metadata['can_authorize_strike']).toBe(false);
    expect(supOut.confidence).toBeCloseTo(0.66, 9);
  });

  it('multi_domain_coverage full_spectrum: eo .8 + sonar .75 → 0.90; domains by sensor type', () => {
    const { out } = run(multiDomainCoverage('full_spectrum'), [cap(T.SENSOR, 0.8, { sensor_type: 'EO' }), cap(T.SENSOR, 0.75, { sensor_type: 'sonar' })]);
    expect(out.confidence).toBeCloseTo(0.9, 9);
    expect(out.metadata['domains']).toEqual(['surface', 'air', 'subsurface']);
    expect(multiDomainCoverage('full_spectrum').appliesTo([cap(T.SENSOR, 0.8, { sensor_type: 'radar' })], ctx())).toBe(false);
    const dual = run(multiDomainCoverage('dual'), [cap(T.SENSOR, 0.8, { sensor_type: 'mad' }), cap(T.SENSOR, 0.9, { sensor_type: 'sonar' })]).out;
    expect(dual.confidence).toBeCloseTo(0.8 + 0.1, 9);
    expect(sensorDomains(cap(T.SENSOR, 1, { sensor_type: 'SIGINT' }))).toEqual(['surface', 'air', 'subsurface']);
    expect(sensorDomains(cap(T.SENSOR, 1, { sensor_type: 'magnetic' }))).toEqual(['subsurface']);
    expect(sensorDomains(cap(T.SENSOR, 1, { sensor_type: 'thermal' }))).toEqual(['surface', 'air']);
    expect(sensorDomains(cap(T.SENSOR, 1, { sensor_type: 'radar', detection_domains: ['air'] }))).toEqual(['air']);
  });

  it('isr_chain: sensor .9, compute .85, comms .95 → 0.85; mapping_3d: camera .9, lidar .8, compute .85 → 0.8', () => {
    expect(run(isrChain, [cap(T.SENSOR, 0.9), cap(T.COMPUTE, 0.85), cap(T.COMMUNICATION, 0.95)]).out.confidence).toBeCloseTo(0.85, 9);
    expect(isrChain.appliesTo([cap(T.SENSOR, 0.9), cap(T.COMPUTE, 0.69), cap(T.COMMUNICATION, 0.95)], ctx())).toBe(false);
    const m = [cap(T.SENSOR, 0.9, { sensor_type: 'camera' }), cap(T.SENSOR, 0.8, { sensor_type: 'lidar' }), cap(T.COMPUTE, 0.85)];
    expect(run(mapping3d, m).out.confidence).toBeCloseTo(0.8, 9);
    expect(mapping3d.appliesTo([m[0]!, m[2]!], ctx())).toBe(false);
  });

  it('constraints: speeds 15 @ .9 and 8 @ .7 → 8 @ 0.7; ranges 2000 @ .8 and 5000 @ .6 → 2000 (mesh 5000) @ 0.7; endurance 90 @ .9 and 45 @ .8 → 45 @ 0.8', () => {
    const slow = cap(T.MOBILITY, 0.7, { max_speed: 8 });
    const c = ctx([config('fast', [cap(T.MOBILITY, 0.9, { max_speed: 15 })]), config('slow', [slow])]);
    const speed = run(teamSpeedConstraint, [cap(T.MOBILITY, 0.9, { max_speed: 15 }), slow], c).out;
    expect(speed.metadata).toMatchObject({ team_speed: 8, limiting_platform: 'slow' });
    expect(speed.confidence).toBeCloseTo(0.7, 9);
    const radios = [cap(T.COMMUNICATION, 0.8, { range: 2000 }), cap(T.COMMUNICATION, 0.6, { range: 5000 })];
    const range = run(communicationRangeConstraint(), radios).out;
    expect(range.metadata['effective_range']).toBe(2000);
    expect(range.confidence).toBeCloseTo(0.7, 9);
    expect(run(communicationRangeConstraint(true), radios).out.metadata['effective_range']).toBe(5000);
    const dur = run(missionDurationConstraint, [cap(T.MOBILITY, 0.9, { endurance_minutes: 90 }), cap(T.SENSOR, 0.8, { endurance_minutes: 45 })]).out;
    expect(dur.metadata['mission_duration']).toBe(45);
    expect(dur.confidence).toBeCloseTo(0.8, 9);
    // constraint rules leave out capabilities without the key
    expect(teamSpeedConstraint.appliesTo([slow, cap(T.MOBILITY, 0.9)], ctx())).toBe(false);
  });

  it('strike_chain needs ISR, a strike-capable payload and a sensor, each ≥ 0.8, and asks for human approval', () => {
    const isr = cap(T.SENSOR, 0.85, { isr_capable: true });
    const { out } = run(strikeChain, [isr, cap(T.PAYLOAD, 0.95, { strike_capable: true }), cap(T.SENSOR, 0.9)]);
    expect(out.confidence).toBeCloseTo(0.85, 9);
    expect(out.metadata['requires_human_approval']).toBe(true);
    expect(strikeChain.appliesTo([isr, cap(T.PAYLOAD, 0.95), cap(T.SENSOR, 0.9)], ctx())).toBe(false);
    expect(strikeChain.appliesTo([isr, cap(T.PAYLOAD, 0.95, { strike_capable: true }), cap(T.SENSOR, 0.79)], ctx())).toBe(true); // isr itself is a sensor at .85
  });

  it('outputs are EMERGENT with the composition metadata and a deterministic id', () => {
    const a = cap(T.SENSOR, 0.7, {}, 'b-sensor');
    const b = cap(T.SENSOR, 0.7, {}, 'a-sensor');
    const { out, result } = run(detectionReliability(), [a, b]);
    const expected = createHash('sha256').update('a-sensor,b-sensor').digest('hex').slice(0, 16);
    expect(out.id).toBe(`detection_reliability:${expected}`);
    expect(out.capability_type).toBe(T.EMERGENT);
    expect(out.registered_at).toBe(42);
    expect(out.metadata).toMatchObject({ composition_type: 'redundant', pattern: 'detection_reliability', inputs: ['b-sensor', 'a-sensor'] });
    expect(typeof out.metadata['description']).toBe('string');
    expect(result.contributing_capabilities).toEqual(['b-sensor', 'a-sensor']);
    expect(run(detectionReliability(), [b, a]).out.id).toBe(out.id);
  });
});

describe('checklist 11: the engine', () => {
  const fixpointInput = () => [
    cap(T.SENSOR, 0.9, { sensor_type: 'camera' }, 'camera'),
    cap(T.COMPUTE, 0.85, {}, 'compute'),
    cap(T.COMMUNICATION, 0.9, {}, 'comms'),
    cap(T.PAYLOAD, 0.95, { strike_capable: true }, 'payload'),
  ];

  it('returns only productive rules', () => {
    const results = compose([cap(T.SENSOR, 0.7), cap(T.SENSOR, 0.7)], ctx());
    expect(results.map((r) => r.pattern).sort()).toEqual(['detection_reliability', 'multi_domain_coverage', 'sensor_coverage']);
    expect(compose([], ctx())).toEqual([]);
    // a rule whose trigger holds but composes nothing is left out
    const barren: CompositionRule = { name: 'barren', kind: 'emergent', description: '', appliesTo: () => true, compose: () => ({ pattern: 'barren', composed_capabilities: [], confidence: 0, contributing_capabilities: [] }) };
    expect(compose([cap(T.SENSOR, 0.5)], ctx(), { rules: [barren] })).toEqual([]);
  });

  it('the fixpoint yields strike_chain from the isr_chain of the pass before; fixpoint:false is the single pass', () => {
    const single = compose(fixpointInput(), ctx(), { fixpoint: false });
    expect(single.map((r) => r.pattern)).toContain('isr_chain');
    expect(single.map((r) => r.pattern)).not.toContain('strike_chain');
    expect(single.find((r) => r.pattern === 'isr_chain')!.confidence).toBeCloseTo(0.85, 9);
    // fixpoint:false equals running every applicable rule once
    const manual = defaultRules().filter((r) => r.appliesTo(fixpointInput(), ctx())).map((r) => r.compose(fixpointInput(), ctx()));
    expect(single).toEqual(manual);

    const full = compose(fixpointInput(), ctx());
    const strike = full.find((r) => r.pattern === 'strike_chain');
    expect(strike?.confidence).toBeCloseTo(0.85, 9);
    expect(strike?.composed_capabilities[0]?.metadata['requires_human_approval']).toBe(true);
    expect(strike?.contributing_capabilities).toContain(full.find((r) => r.pattern === 'isr_chain')!.composed_capabilities[0]!.id);
  });

  it('a rule never sees its own outputs, and passes stop at the limit', () => {
    // sensor_coverage outputs are EMERGENT, so only rules that read EMERGENT inputs could feed on them
    const results = compose([cap(T.SENSOR, 0.8, { coverage_area: 1 }), cap(T.SENSOR, 0.8, { coverage_area: 2 })], ctx());
    expect(results.filter((r) => r.pattern === 'sensor_coverage')).toHaveLength(1);
    let passes = 0;
    const growing: CompositionRule = {
      name: 'growing',
      kind: 'emergent',
      description: '',
      appliesTo: () => true,
      compose: (caps, c) => {
        passes++;
        return { pattern: 'growing', composed_capabilities: [{ ...cap(T.EMERGENT, 0.5, {}, `g${passes}`), registered_at: c.timestamp }], confidence: 0.5, contributing_capabilities: caps.map((x) => x.id) };
      },
    };
    compose([cap(T.SENSOR, 0.5)], ctx(), { rules: [growing], maxPasses: 3 });
    expect(passes).toBe(3);
  });
});
