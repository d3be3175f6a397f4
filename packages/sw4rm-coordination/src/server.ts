// SPDX-License-Identifier: Apache-2.0
// Serving HandoffService and WorkflowService (+ health), as the reference's coordination server does.
import { hostServices } from '@ecps/sw4rm';
import type { CallContext, Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { HandoffServiceService, WorkflowServiceService } from '@ecps/sw4rm/proto';
import type { HandoffServiceOptions } from './handoff';
import { HandoffService } from './handoff';
import type { WorkflowEngineOptions } from './workflow';
import { WorkflowEngine } from './workflow';

/** Options of {@link startCoordination}. */
export interface StartCoordinationOptions extends HostingOptions {
  handoff?: HandoffServiceOptions;
  workflow?: WorkflowEngineOptions;
}

/** The running coordination services. */
export interface RunningCoordination extends Hosted {
  handoff: HandoffService;
  workflow: WorkflowEngine;
}

/** Adds HandoffService and WorkflowService to `server`. */
export function addCoordinationServices(server: Sw4rmServer, s: { handoff: HandoffService; workflow: WorkflowEngine }): void {
  const { handoff: h, workflow: w } = s;
  server.addUnaryService('sw4rm.handoff.HandoffService', HandoffServiceService, {
    requestHandoff: (q: never, c: CallContext) => h.requestHandoff(q, c.identity, c.auth),
    acceptHandoff: (q: never, c: CallContext) => h.acceptHandoff(q, c.identity, c.auth),
    rejectHandoff: (q: never, c: CallContext) => h.rejectHandoff(q, c.identity, c.auth),
    getPendingHandoffs: (q: never, c: CallContext) => h.getPendingHandoffs(q, c.identity, c.auth),
    completeHandoff: (q: never, c: CallContext) => h.completeHandoff(q, c.identity, c.auth),
    cancelDelegation: (q: never, c: CallContext) => h.cancelDelegation(q, c.identity, c.auth),
  });
  server.addUnaryService('sw4rm.workflow.WorkflowService', WorkflowServiceService, {
    createWorkflow: (q: never) => w.createWorkflow(q),
    startWorkflow: (q: never) => w.startWorkflow(q),
    getWorkflowState: (q: never) => w.getWorkflowState(q),
    resumeWorkflow: (q: never) => w.resumeWorkflow(q),
  });
}

/** Starts both services on `host:port`. @throws EcpsError IO_ERROR when the port cannot be bound or the store read. */
export async function startCoordination(options: StartCoordinationOptions = {}): Promise<RunningCoordination> {
  const handoff = await HandoffService.open(options.handoff);
  const workflow = await WorkflowEngine.open(options.workflow);
  return { handoff, workflow, ...(await hostServices(options, 50053, (s: Sw4rmServer) => addCoordinationServices(s, { handoff, workflow }), () => handoff.close())) };
}
