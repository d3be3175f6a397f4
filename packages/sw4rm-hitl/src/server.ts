// SPDX-License-Identifier: Apache-2.0
// Serving HitlService (+ health): Decide blocks until the backend decides.
import { ValidationError } from '@ecps/core';
import { Sw4rmServer } from '@ecps/sw4rm';
import type { Sw4rmServerOptions } from '@ecps/sw4rm';
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
export interface StartHitlOptions extends FileHitlQueueOptions, Sw4rmServerOptions {
  host?: string;
  /** 0 = ephemeral; default 50053. */
  port?: number;
  server?: Sw4rmServer;
}

/** A running HitlService on the file queue. */
export interface RunningHitl {
  queue: FileHitlQueue;
  server: Sw4rmServer;
  port: number;
  stop(): Promise<void>;
}

/** Starts HitlService with the file queue. @throws EcpsError IO_ERROR when the port cannot be bound. */
export async function startHitl(options: StartHitlOptions): Promise<RunningHitl> {
  const { host = '127.0.0.1', port = 50053, server: shared, tls, auth, ...rest } = options;
  const queue = new FileHitlQueue(rest);
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  addHitlService(server, queue);
  const bound = shared ? shared.port : await server.bind(host, port);
  return {
    queue,
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      queue.close();
      if (!shared) await server.shutdown(1000);
    },
  };
}
