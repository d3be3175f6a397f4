// SPDX-License-Identifier: Apache-2.0
// Additive rules (spec §4, rules 1–3): several capabilities of one type add up a quantity from their metadata
// (a missing value counts as 0); confidence is the mean.
import { CapabilityType } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import { composed, mean, metaNumber, ofType } from './rule';
import type { CompositionRule } from './rule';

function additive(name: string, type: number, quantity: string, countKey: string, description: string): CompositionRule {
  const rule: CompositionRule = {
    name,
    kind: 'additive',
    description,
    appliesTo: (caps) => ofType(caps, type).length >= 2,
    compose(caps, ctx) {
      const inputs = ofType(caps, type);
      const total = inputs.reduce((s, c: Capability) => s + (metaNumber(c, quantity) ?? 0), 0);
      return composed(rule, inputs, mean(inputs.map((c) => c.confidence)), ctx, { [quantity]: total, [countKey]: inputs.length });
    },
  };
  return rule;
}

export const sensorCoverage = additive('sensor_coverage', CapabilityType.SENSOR, 'coverage_area', 'sensor_count', 'combined sensor coverage area');
export const payloadCapacity = additive('payload_capacity', CapabilityType.PAYLOAD, 'lift_capacity', 'payload_count', 'combined lift capacity');
export const communicationBandwidth = additive('communication_bandwidth', CapabilityType.COMMUNICATION, 'bandwidth', 'comm_count', 'combined communication bandwidth');
