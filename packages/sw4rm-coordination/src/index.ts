// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-coordination.

export { HandoffService } from './handoff';
export { WorkflowEngine } from './workflow';
export { startCoordination, addCoordinationServices } from './server';

export type { HandoffEvent, HandoffServiceOptions } from './handoff';
export type { NodeDispatcher, WorkflowEngineOptions } from './workflow';
export type { StartCoordinationOptions, RunningCoordination } from './server';
