// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat-hierarchy: summaries and deltas, zones and rebalancing, routing, flow control
// and events.

export { SOURCE_STALE_MS, haversineM, boxCentre, squadSummary, platoonSummary, companySummary } from './summary';
export { diffSummary, applyDelta, DeltaPublisher } from './delta';
export { ZoneCoordinator, zoneCapabilities, HierarchyMaintainer } from './zone';
export { LwwMap, RoutingTable } from './routing';
export { CELL_FLOW, ZONE_FLOW, TokenBucket, FlowController } from './flow';
export { EventAggregator, WeightedFairQueue } from './events';
export { simulateReplication } from './replication-sim';
export { planFleet, writeNodeState, writeSquadSummary, writePlatoonSummary, echelonHop, writtenAt, SIM_SQUAD_SIZE, SIM_SQUADS_PER_PLATOON } from './fleet';

export type {
  LatLonAlt,
  BoundingBox,
  AggregationMetadata,
  EchelonFields,
  SquadSummary,
  PlatoonSummary,
  CompanySummary,
  SquadSource,
  SummaryOptions,
} from './summary';
export type { SummaryOp, SummaryDelta } from './delta';
export type { ZoneCell, ZoneStatus, ZoneOptions, RebalanceAction } from './zone';
export type { DropPolicy, FlowLimits, Queued } from './flow';
export type { EventPriority, EventMode, PeatEvent, EventSummary, EventAggregatorOptions } from './events';
export type { ReplicationSimOptions, ReplicationSimResult, LatencyPercentiles, PartitionResult } from './replication-sim';
export type { FleetPlace, FleetPlan } from './fleet';
