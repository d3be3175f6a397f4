// SPDX-License-Identifier: Apache-2.0
// Serving HandoffService and WorkflowService (+ health), as the reference's coordination server does.
import { Sw4rmServer } from '@ecps/sw4rm';
import type { CallContext, Sw4rmServerOptions } from '@ecps/sw4rm';
import { HandoffServiceService, WorkflowServiceService } from '@ecps/sw4rm/proto';
import type { HandoffServiceOptions } from './handoff';
import { HandoffService } from './handoff';
import type { WorkflowEngineOptions } from './workflow';
import { WorkflowEngine } from './workflow';

/** Options of {@link startCoordination}. */
export interface StartCoordinationOptions extends Sw4rmServerOptions {
  handoff?: HandoffServiceOptions;
  workflow?: WorkflowEngineOptions;
  host?: string;
  /** 0 = ephemeral; default 50053 (co-hosted with the scheduler in `ecps hub`). */
  port?: number;
  /** Host on an existing server (the caller binds it). */
  server?: Sw4rmServer;
}

/** The running coordination services. */
export interface RunningCoordination {
  handoff: HandoffService;
  workflow: WorkflowEngine;
  server: Sw4rmServer;
  port: number;
  stop(): Promise<void>;
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
  const { host = '127.0.0.1', port = 50053, server: shared, tls, auth } = options;
  const handoff = await HandoffService.open(options.handoff);
  const workflow = await WorkflowEngine.open(options.workflow);
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  addCoordinationServices(server, { handoff, workflow });
  const bound = shared ? shared.port : await server.bind(host, port);
  return {
    handoff,
    workflow,
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      handoff.close();
      if (!shared) await server.shutdown(1000);
    },
  };
}
