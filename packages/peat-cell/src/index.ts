// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat-cell: discovery, directed assignment, bootstrap, the cell bus, elections, roles
// and the CellCoordinator.

export {
  BEACON_TTL_MS,
  CELL_GEOHASH_PRECISION,
  ZONE_GEOHASH_PRECISION,
  COMPANY_GEOHASH_PRECISION,
  MIN_SQUAD_SIZE,
  DEFAULT_CELL_SIZE,
  geohashOf,
  isBeaconExpired,
  clusterBeacons,
  BeaconTable,
} from './discovery';
export { ASSIGNMENT_TTL_MS, checkAssignment } from './assignment';
export { BOOTSTRAP_TIMEOUT_MS, BootstrapCoordinator, assertCanEnterCell } from './bootstrap';
export { MessagePriority, MESSAGE_TTL_MS, RETRANSMIT_MS, MAX_RETRIES, BANDWIDTH_MULTIPLIER, escalate, CellBus } from './bus';
export { RANK_ORDER, quantize, technicalScore, operatorQualifies, authorityScoreOf, policyWeights, candidateScore, rankCandidates, outranks } from './scores';
export { HEARTBEAT_MS, LEADER_TIMEOUT_MS, ELECTION_WINDOW_MS, Election } from './election';
export { ROLE_TABLE, roleFitness, chooseRole, assignRoles } from './roles';
export { assessCell, decideApproval, CellMembership } from './coordinator';

export type { Beacon, Mobility, Cluster, ClusterOptions } from './discovery';
export type { CellAssignment, AssignmentPriority, AssignmentStatus, AssignmentRejection, AssignmentContext, AssignmentOutcome } from './assignment';
export type { BootstrapStrategy, BootstrapStatus, BootstrapOptions } from './bootstrap';
export type { MessagePriorityValue, RoutingContext, CellPayload, CellMessage, DeliveryState, CellBusOptions } from './bus';
export type { ElectionPolicy, ElectionSettings, CandidateScore } from './scores';
export type { ElectionMode, ElectionRole, LeaderRecord, ElectionOptions } from './election';
export type { CellRole, RoleChoice } from './roles';
export type { CellState, CoordinatorOptions, CellStatus, CellAssessment } from './coordinator';
