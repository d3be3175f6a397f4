// SPDX-License-Identifier: Apache-2.0
// Redundant rules (spec §4, rules 9–11): several capabilities of one type back each other up; independent
// detections combine as 1 − Π(1 − cᵢ).
import { CapabilityType } from '@ecps/peat';
import { combinedProbability, composed, mean, metaNumber, ofType } from './rule';
import type { CompositionRule } from './rule';

/** Rule 9 with its per-sensor minimum confidence (default 0.6). */
export function detectionReliability(minConfidence = 0.6): CompositionRule {
  const rule: CompositionRule = {
    name: 'detection_reliability',
    kind: 'redundant',
    description: 'independent sensors detecting the same target',
    appliesTo: (caps) => ofType(caps, CapabilityType.SENSOR, minConfidence).length >= 2,
    compose(caps, ctx) {
      const inputs = ofType(caps, CapabilityType.SENSOR, minConfidence);
      const cs = inputs.map((c) => c.confidence);
      const combined = combinedProbability(cs);
      return composed(rule, inputs, combined, ctx, { reliability_improvement: combined - Math.max(...cs) });
    },
  };
  return rule;
}

export const continuousCoverage: CompositionRule = {
  name: 'continuous_coverage',
  kind: 'redundant',
  description: 'overlapping sensor coverage areas without gaps',
  appliesTo: (caps) => ofType(caps, CapabilityType.SENSOR).filter((c) => metaNumber(c, 'coverage_area') !== undefined).length >= 2,
  compose(caps, ctx) {
    const inputs = ofType(caps, CapabilityType.SENSOR).filter((c) => metaNumber(c, 'coverage_area') !== undefined);
    const overlap = 0.2 + 0.1 * (inputs.length - 1);
    return composed(continuousCoverage, inputs, Math.min(1, mean(inputs.map((c) => c.confidence)) + 0.2 * overlap), ctx, { overlap });
  },
};

/** Rule 11 over capabilities of `type` (default COMMUNICATION). */
export function faultTolerance(type: number = CapabilityType.COMMUNICATION): CompositionRule {
  const rule: CompositionRule = {
    name: 'fault_tolerance',
    kind: 'redundant',
    description: 'three or more capabilities of one type survive the loss of any one',
    appliesTo: (caps) => ofType(caps, type).length >= 3,
    compose(caps, ctx) {
      const inputs = ofType(caps, type);
      return composed(rule, inputs, combinedProbability(inputs.map((c) => c.confidence)), ctx, { capability_type: type });
    },
  };
  return rule;
}
