// SPDX-License-Identifier: Apache-2.0
// The composition engine (spec §4): every rule whose trigger holds runs, and only results that composed something
// are returned. Our fixpoint extension runs the rules again over the inputs plus what the previous pass composed
// (a rule never sees its own outputs), so a strike chain can build on the ISR chain composed one pass earlier.
import type { Capability } from '@ecps/peat';
import { communicationBandwidth, payloadCapacity, sensorCoverage } from './rules/additive';
import { communicationRangeConstraint, missionDurationConstraint, teamSpeedConstraint } from './rules/constraint';
import { authorizationCoverage, isrChain, mapping3d, multiDomainCoverage, strikeChain } from './rules/emergent';
import { continuousCoverage, detectionReliability, faultTolerance } from './rules/redundant';
import type { CompositionContext, CompositionResult, CompositionRule } from './rules/rule';

/** The 14 rules with their default parameters, in the specification's order. */
export function defaultRules(): CompositionRule[] {
  return [
    sensorCoverage,
    payloadCapacity,
    communicationBandwidth,
    isrChain,
    mapping3d,
    strikeChain,
    authorizationCoverage(),
    multiDomainCoverage(),
    detectionReliability(),
    continuousCoverage,
    faultTolerance(),
    teamSpeedConstraint,
    communicationRangeConstraint(),
    missionDurationConstraint,
  ];
}

export interface ComposeOptions {
  /** Default {@link defaultRules}. */
  readonly rules?: readonly CompositionRule[];
  /** Iterate to a fixpoint (default true); false runs each rule once, as the reference does. */
  readonly fixpoint?: boolean;
  /** Most passes of the fixpoint. Default 4. */
  readonly maxPasses?: number;
}

function runPass(rules: readonly CompositionRule[], inputs: readonly Capability[], ctx: CompositionContext): CompositionResult[] {
  const out: CompositionResult[] = [];
  for (const rule of rules) {
    // a rule never sees its own outputs
    const visible = inputs.filter((c) => c.metadata['pattern'] !== rule.name || c.metadata['composition_type'] === undefined);
    if (!rule.appliesTo(visible, ctx)) continue;
    const r = rule.compose(visible, ctx);
    if (r.composed_capabilities.length > 0) out.push(r);
  }
  return out;
}

const outputIds = (results: readonly CompositionResult[]) => results.flatMap((r) => r.composed_capabilities.map((c) => c.id)).sort().join('\n');

/**
 * Composes `caps`: the productive results of every applicable rule. With the fixpoint (default), pass k + 1 runs
 * on `caps` plus pass k's outputs (deduplicated by id) until the set of output ids stops changing or `maxPasses`.
 */
export function compose(caps: readonly Capability[], ctx: CompositionContext, options: ComposeOptions = {}): CompositionResult[] {
  const rules = options.rules ?? defaultRules();
  let results = runPass(rules, caps, ctx);
  if (options.fixpoint === false) return results;
  const maxPasses = options.maxPasses ?? 4;
  for (let pass = 2; pass <= maxPasses; pass++) {
    const byId = new Map(caps.map((c) => [c.id, c]));
    for (const r of results) for (const c of r.composed_capabilities) if (!byId.has(c.id)) byId.set(c.id, c);
    const next = runPass(rules, [...byId.values()], ctx);
    const settled = outputIds(next) === outputIds(results);
    results = next;
    if (settled) break;
  }
  return results;
}

/** Every capability the results composed, deduplicated by id. */
export function composedCapabilities(results: readonly CompositionResult[]): Capability[] {
  const byId = new Map<string, Capability>();
  for (const r of results) for (const c of r.composed_capabilities) byId.set(c.id, c);
  return [...byId.values()];
}
