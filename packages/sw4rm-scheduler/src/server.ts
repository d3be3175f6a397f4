// SPDX-License-Identifier: Apache-2.0
// Serving the scheduler on gRPC (+ health).
import { hostServices } from '@ecps/sw4rm';
import type { Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { SchedulerServiceService } from '@ecps/sw4rm/proto';
import type { SchedulerOptions } from './scheduler';
import { Scheduler } from './scheduler';

/** Options of {@link startScheduler}. */
export interface StartSchedulerOptions extends SchedulerOptions, HostingOptions {}

/** A running scheduler. */
export interface RunningScheduler extends Hosted {
  scheduler: Scheduler;
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
  const scheduler = await Scheduler.open(options);
  return { scheduler, ...(await hostServices(options, 50053, (s: Sw4rmServer) => addSchedulerService(s, scheduler), () => scheduler.close())) };
}
