// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-negotiation.

export { NegotiationService, INTENSITY_MAX_ROUNDS } from './negotiation';
export { PolicyStore, DEFAULT_POLICY, effectivePolicy } from './policy';
export { NegotiationRoom } from './room';
export { ArtifactStore } from './artifacts';
export {
  aggregateScores,
  bordaWeightedMean,
  evaluateQuorum,
  abstainVotes,
  decideOutcome,
  DEFAULT_THRESHOLDS,
  ROOM_POLICY_VERSION,
} from './room-math';
export { startNegotiation, addNegotiationServices } from './server';

export type { NegotiationEventKind, NegotiationRecord, NegotiationServiceOptions } from './negotiation';
export type { ScoredEvaluation } from './policy';
export type { NegotiationRoomOptions } from './room';
export type { ScoredVote, QuorumRule, QuorumFailurePolicy, QuorumResult, DecisionThresholds } from './room-math';
export type { StartNegotiationOptions, RunningNegotiation } from './server';
export type { ArtifactStoreOptions } from './artifacts';
