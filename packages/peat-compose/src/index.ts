// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat-compose: the capability query, aggregation inside a cell and composition.

export { matchesQuery, queryScore, queryCapabilities, capabilityStats, bestConfidence } from './query';
export {
  aggregateCell,
  squadCapabilities,
  readinessWeight,
  redundancyBonus,
  authorityBonus,
  oversightPenalty,
  requiresOversight,
} from './aggregation';
export { compose, composedCapabilities, defaultRules } from './compose';
export { maxOperatorAuthority, hasCommander, authorizationBonus, composedId } from './rules/rule';
export { sensorCoverage, payloadCapacity, communicationBandwidth } from './rules/additive';
export { isrChain, mapping3d, strikeChain, authorizationCoverage, multiDomainCoverage, sensorDomains } from './rules/emergent';
export { detectionReliability, continuousCoverage, faultTolerance } from './rules/redundant';
export { teamSpeedConstraint, communicationRangeConstraint, missionDurationConstraint } from './rules/constraint';

export type { CapabilityQuery, QueryCandidate, QueryMatch, TypeStats } from './query';
export type { AggregationMember, TypeAggregate, CellAggregation, AggregationOptions } from './aggregation';
export type { ComposeOptions } from './compose';
export type { CompositionKind, CompositionContext, CompositionResult, CompositionRule } from './rules/rule';
export type { SensorDomain } from './rules/emergent';
