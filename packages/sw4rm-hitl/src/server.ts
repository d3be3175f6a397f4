// SPDX-License-Identifier: Apache-2.0
// Serving HitlService (+ health): Decide blocks until the backend decides.
import { ValidationError } from '@ecps/core';
import { hostServices } from '@ecps/sw4rm';
import type { Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { HitlServiceService } from '@ecps/sw4rm/proto';
import type { HitlInvocation } from '@ecps/sw4rm/proto';
import type { FileHitlQueueOptions, HitlBackend } from './hitl-queue';
import { FileHitlQueue } from './hitl-queue';

/** Adds HitlService to `server`. */
export function addHitlService(server: Sw4rmServer, backend: HitlBackend): void {
  server.addUnaryService('sw4rm.hitl.HitlService', HitlServiceService, {
    decide: (q: never) => {
      const inv = q as HitlInvocation;
      if (!inv.reasonType) return Promise.reject(new ValidationError('INVALID_ARGUMENT', 'reason_type is required'));
      return backend.decide(inv);
    },
  });
}

/** Options of {@link startHitl}. */
export interface StartHitlOptions extends FileHitlQueueOptions, HostingOptions {}

/** A running HitlService on the file queue. */
export interface RunningHitl extends Hosted {
  queue: FileHitlQueue;
}

/** Starts HitlService with the file queue. @throws EcpsError IO_ERROR when the port cannot be bound. */
export async function startHitl(options: StartHitlOptions): Promise<RunningHitl> {
  const queue = new FileHitlQueue(options);
  return { queue, ...(await hostServices(options, 50053, (s) => addHitlService(s, queue), () => queue.close())) };
}
