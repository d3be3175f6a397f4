// SPDX-License-Identifier: Apache-2.0
// Constraint rules (spec §4, rules 12–14): a team is only as fast, as far-reaching or as enduring as its weakest
// member (a capability without the metadata key is left out).
import { CapabilityType } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import { composed, mean, metaNumber, ofType } from './rule';
import type { CompositionContext, CompositionRule } from './rule';

function withKey(caps: readonly Capability[], key: string, type?: number): Capability[] {
  return (type === undefined ? [...caps] : ofType(caps, type)).filter((c) => metaNumber(c, key) !== undefined);
}

/** The lowest value of `key` (the first on ties). */
function limiting(caps: readonly Capability[], key: string): Capability {
  return caps.reduce((lo, c) => (metaNumber(c, key)! < metaNumber(lo, key)! ? c : lo));
}

/** The node whose configuration lists capability `id` (its id when none does). */
function platformOf(ctx: CompositionContext, id: string): string {
  return ctx.node_configs.find((n) => n.capabilities.some((c) => c.id === id))?.id ?? id;
}

export const teamSpeedConstraint: CompositionRule = {
  name: 'team_speed_constraint',
  kind: 'constraint',
  description: 'a team moves at the speed of its slowest platform',
  appliesTo: (caps) => withKey(caps, 'max_speed', CapabilityType.MOBILITY).length >= 2,
  compose(caps, ctx) {
    const inputs = withKey(caps, 'max_speed', CapabilityType.MOBILITY);
    const slow = limiting(inputs, 'max_speed');
    return composed(teamSpeedConstraint, inputs, slow.confidence, ctx, { team_speed: metaNumber(slow, 'max_speed')!, limiting_platform: platformOf(ctx, slow.id) });
  },
};

/** Rule 13; with `hasMesh` the team reaches as far as its best radio (default false: its worst). */
export function communicationRangeConstraint(hasMesh = false): CompositionRule {
  const rule: CompositionRule = {
    name: 'communication_range_constraint',
    kind: 'constraint',
    description: hasMesh ? 'a meshed team reaches as far as its longest radio' : 'a team reaches as far as its shortest radio',
    appliesTo: (caps) => withKey(caps, 'range', CapabilityType.COMMUNICATION).length >= 2,
    compose(caps, ctx) {
      const inputs = withKey(caps, 'range', CapabilityType.COMMUNICATION);
      const ranges = inputs.map((c) => metaNumber(c, 'range')!);
      return composed(rule, inputs, mean(inputs.map((c) => c.confidence)), ctx, { effective_range: hasMesh ? Math.max(...ranges) : Math.min(...ranges), has_mesh: hasMesh });
    },
  };
  return rule;
}

export const missionDurationConstraint: CompositionRule = {
  name: 'mission_duration_constraint',
  kind: 'constraint',
  description: 'a mission lasts as long as its shortest endurance',
  appliesTo: (caps) => withKey(caps, 'endurance_minutes').length >= 2,
  compose(caps, ctx) {
    const inputs = withKey(caps, 'endurance_minutes');
    const short = limiting(inputs, 'endurance_minutes');
    return composed(missionDurationConstraint, inputs, short.confidence, ctx, { mission_duration: metaNumber(short, 'endurance_minutes')!, limiting_platform: platformOf(ctx, short.id) });
  },
};
