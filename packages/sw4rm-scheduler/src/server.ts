// SPDX-License-Identifier: Apache-2.0
// Serving the scheduler on gRPC (+ health).
import { Sw4rmServer } from '@ecps/sw4rm';
import type { Sw4rmServerOptions } from '@ecps/sw4rm';
import { SchedulerServiceService } from '@ecps/sw4rm/proto';
import type { SchedulerOptions } from './scheduler';
import { Scheduler } from './scheduler';

/** Options of {@link startScheduler}. */
export interface StartSchedulerOptions extends SchedulerOptions, Sw4rmServerOptions {
  host?: string;
  /** 0 = ephemeral; default 50053. */
  port?: number;
  /** Host on an existing server (the caller binds it). */
  server?: Sw4rmServer;
}

/** A running scheduler. */
export interface RunningScheduler {
  scheduler: Scheduler;
  server: Sw4rmServer;
  port: number;
  stop(): Promise<void>;
}

/** Adds SchedulerService to a server. */
export function addSchedulerService(server: Sw4rmServer, scheduler: Scheduler): void {
  server.addUnaryService('sw4rm.scheduler.SchedulerService', SchedulerServiceService, {
    submitTask: (r: never) => scheduler.submitTask(r),
    requestPreemption: (r: never) => scheduler.requestPreemption(r),
    shutdownAgent: (r: never) => scheduler.shutdownAgent(r),
    pollActivityBuffer: (r: never) => scheduler.pollActivityBuffer(r),
    purgeActivity: (r: never) => scheduler.purgeActivity(r),
  });
}

/** Starts a scheduler on `host:port`. @throws EcpsError IO_ERROR when the port cannot be bound. */
export async function startScheduler(options: StartSchedulerOptions = {}): Promise<RunningScheduler> {
  const { host = '127.0.0.1', port = 50053, server: shared, tls, auth, ...rest } = options;
  const scheduler = await Scheduler.open(rest);
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  addSchedulerService(server, scheduler);
  const bound = shared ? shared.port : await server.bind(host, port);
  return {
    scheduler,
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      scheduler.close();
      if (!shared) await server.shutdown(1000);
    },
  };
}
