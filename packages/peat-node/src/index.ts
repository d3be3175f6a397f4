// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat-node: the node state machine and the medium it runs on.

export { NodeOrchestrator, DEFAULT_TIMINGS } from './orchestrator';
export { SimMedium } from './medium';
export { transportMedium, NODE_MESSAGE_EVENT_TYPE } from './transport-medium';
export { peatMedium, NODE_FRAME_KEY } from './peat-medium';
export { documentChannel, mediumChannel } from './cell-channel';
export { HierarchyDriver } from './hierarchy-driver';
export { DeploymentDriver } from './deployment-driver';
export { SummaryPublisher, SummaryInbox } from './summary-link';
export { openSecureNode } from './secure-node';

export type { OrchestratorState, Transition, OrchestratorTimings, OrchestratorOptions } from './orchestrator';
export type { NodeMessage, Envelope, NodeMedium, SimMediumStats } from './medium';
export type { TransportMediumOptions } from './transport-medium';
export type { PeatMediumStats } from './peat-medium';
export type { HierarchyOptions, HierarchyHost, HierarchyStats, CellView, DeploymentPort } from './hierarchy-driver';
export type { NodeDeploymentOptions, DeploymentHost } from './deployment-driver';
export type { HierarchicalCommand, CommandPriority, DownItem, UpItem } from './echelon-messages';
export type { Echelon, AnySummary, SummaryWire, SummaryInboxStats } from './summary-link';
export type { SecureNodeOptions, SecureNode } from './secure-node';
export type { CellInbox, CellOutbox, CellChannel, RoleTable, DocumentChannelOptions, MergeCommit, MergeSupport } from './cell-channel';
