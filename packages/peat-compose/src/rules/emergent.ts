// SPDX-License-Identifier: Apache-2.0
// Emergent rules (spec §4, rules 4–8): capabilities of different kinds that together can do something none of
// them can alone (a sense–decide–communicate chain, 3-D mapping, a strike chain with damage assessment, strike
// authorization, coverage of several domains).
import { CapabilityType, authorityRank, authorityScore } from '@ecps/peat';
import type { AuthorityLevel, Capability } from '@ecps/peat';
import { best, composed, maxOperatorAuthority, metaString, ofType } from './rule';
import type { CompositionRule } from './rule';

const ISR_MIN = 0.7;

export const isrChain: CompositionRule = {
  name: 'isr_chain',
  kind: 'emergent',
  description: 'intelligence, surveillance and reconnaissance: sense, process and report',
  appliesTo: (caps) => [CapabilityType.SENSOR, CapabilityType.COMPUTE, CapabilityType.COMMUNICATION].every((t) => ofType(caps, t, ISR_MIN).length > 0),
  compose(caps, ctx) {
    const inputs = [CapabilityType.SENSOR, CapabilityType.COMPUTE, CapabilityType.COMMUNICATION].map((t) => best(ofType(caps, t, ISR_MIN))!);
    return composed(isrChain, inputs, Math.min(...inputs.map((c) => c.confidence)), ctx);
  },
};

const sensorsOfKind = (caps: readonly Capability[], kind: string, min: number) =>
  ofType(caps, CapabilityType.SENSOR, min).filter((c) => metaString(c, 'sensor_type')?.toLowerCase() === kind);

export const mapping3d: CompositionRule = {
  name: 'mapping_3d',
  kind: 'emergent',
  description: '3-D mapping from camera and lidar fused by a computer',
  appliesTo: (caps) => sensorsOfKind(caps, 'camera', 0.7).length > 0 && sensorsOfKind(caps, 'lidar', 0.7).length > 0 && ofType(caps, CapabilityType.COMPUTE, 0.7).length > 0,
  compose(caps, ctx) {
    const inputs = [best(sensorsOfKind(caps, 'camera', 0.7))!, best(sensorsOfKind(caps, 'lidar', 0.7))!, best(ofType(caps, CapabilityType.COMPUTE, 0.7))!];
    return composed(mapping3d, inputs, Math.min(...inputs.map((c) => c.confidence)), ctx);
  },
};

const STRIKE_MIN = 0.8;
const isIsr = (c: Capability) => (c.capability_type === CapabilityType.EMERGENT && c.metadata['pattern'] === 'isr_chain') || c.metadata['isr_capable'] === true;
const strikeParts = (caps: readonly Capability[]) => ({
  isr: caps.filter((c) => isIsr(c) && c.confidence >= STRIKE_MIN),
  strike: ofType(caps, CapabilityType.PAYLOAD, STRIKE_MIN).filter((c) => c.metadata['strike_capable'] === true),
  sensor: ofType(caps, CapabilityType.SENSOR, STRIKE_MIN),
});

export const strikeChain: CompositionRule = {
  name: 'strike_chain',
  kind: 'emergent',
  description: 'find, fix and engage with battle damage assessment; needs human approval',
  appliesTo(caps) {
    const p = strikeParts(caps);
    return p.isr.length > 0 && p.strike.length > 0 && p.sensor.length > 0;
  },
  compose(caps, ctx) {
    const p = strikeParts(caps);
    const inputs = [best(p.isr)!, best(p.strike)!, best(p.sensor)!];
    return composed(strikeChain, inputs, Math.min(...inputs.map((c) => c.confidence)), ctx, { requires_human_approval: true });
  },
};

/** Rule 7 with its authority threshold (default Commander). */
export function authorizationCoverage(threshold: AuthorityLevel = 'Commander'): CompositionRule {
  const rule: CompositionRule = {
    name: 'authorization_coverage',
    kind: 'emergent',
    description: 'a bound operator with the authority to authorize action, reachable over communications',
    appliesTo: (caps, ctx) => ofType(caps, CapabilityType.COMMUNICATION).length > 0 && authorityRank(maxOperatorAuthority(ctx).level) >= authorityRank(threshold),
    compose(caps, ctx) {
      const comms = best(ofType(caps, CapabilityType.COMMUNICATION))!;
      const { level, node } = maxOperatorAuthority(ctx);
      const confidence = Math.min(1, 0.4 * comms.confidence + 0.6 * authorityScore(level));
      return composed(rule, [comms], confidence, ctx, { can_authorize_strike: level === 'Commander', authorizing_node: node, authority_level: level });
    },
  };
  return rule;
}

/** Detection domains of sensors. */
export type SensorDomain = 'surface' | 'air' | 'subsurface';
const ALL_DOMAINS: readonly SensorDomain[] = ['surface', 'air', 'subsurface'];

/** The domains a sensor covers: its `detection_domains` when given, otherwise by `sensor_type`. */
export function sensorDomains(c: Capability): SensorDomain[] {
  const explicit = c.metadata['detection_domains'];
  if (Array.isArray(explicit)) return ALL_DOMAINS.filter((d) => explicit.some((x) => typeof x === 'string' && x.toLowerCase() === d));
  const type = metaString(c, 'sensor_type')?.toLowerCase() ?? '';
  if (['sonar', 'son'].includes(type)) return ['subsurface', 'surface'];
  if (['acoustic', 'aco', 'sigint', 'sig', 'signals_intelligence'].includes(type)) return [...ALL_DOMAINS];
  if (['mad', 'magnetic'].includes(type)) return ['subsurface'];
  // eo, camera, ir, thermal, radar, rad, and anything else
  return ['surface', 'air'];
}

/** Rule 8: `dual` needs 2 domains, `full_spectrum` 3 (default `dual`). */
export function multiDomainCoverage(variant: 'dual' | 'full_spectrum' = 'dual'): CompositionRule {
  const needed = variant === 'dual' ? 2 : 3;
  const covered = (caps: readonly Capability[]) => {
    const sensors = ofType(caps, CapabilityType.SENSOR, 0.7);
    const domains = ALL_DOMAINS.filter((d) => sensors.some((s) => sensorDomains(s).includes(d)));
    return { sensors, domains };
  };
  const rule: CompositionRule = {
    name: 'multi_domain_coverage',
    kind: 'emergent',
    description: `sensors covering ${variant === 'dual' ? 'two' : 'all three'} of surface, air and subsurface`,
    appliesTo: (caps) => covered(caps).domains.length >= needed,
    compose(caps, ctx) {
      const { sensors, domains } = covered(caps);
      const confidence = Math.min(1, Math.min(...sensors.map((s) => s.confidence)) + 0.05 * domains.length);
      return composed(rule, sensors, confidence, ctx, { domains, variant });
    },
  };
  return rule;
}
