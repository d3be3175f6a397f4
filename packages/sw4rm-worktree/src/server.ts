// SPDX-License-Identifier: Apache-2.0
// Serving WorktreeService (+ health).
import { Sw4rmServer } from '@ecps/sw4rm';
import type { CallContext, Sw4rmServerOptions } from '@ecps/sw4rm';
import { WorktreeServiceService } from '@ecps/sw4rm/proto';
import type { WorktreeServiceOptions } from './worktree-service';
import { WorktreeService } from './worktree-service';

/** Options of {@link startWorktreeService}. */
export interface StartWorktreeOptions extends WorktreeServiceOptions, Sw4rmServerOptions {
  host?: string;
  /** 0 = ephemeral; default 50053. */
  port?: number;
  server?: Sw4rmServer;
}

/** A running WorktreeService. */
export interface RunningWorktree {
  worktrees: WorktreeService;
  server: Sw4rmServer;
  port: number;
  stop(): Promise<void>;
}

/** Adds WorktreeService to `server`. */
export function addWorktreeService(server: Sw4rmServer, w: WorktreeService): void {
  server.addUnaryService('sw4rm.worktree.WorktreeService', WorktreeServiceService, {
    bind: (q: never, c: CallContext) => w.bind(q, c.identity, c.auth),
    unbind: (q: never, c: CallContext) => w.unbind(q, c.identity, c.auth),
    requestSwitch: (q: never, c: CallContext) => w.requestSwitch(q, c.identity, c.auth),
    approveSwitch: (q: never, c: CallContext) => w.approveSwitch(q, c.identity, c.auth),
    rejectSwitch: (q: never, c: CallContext) => w.rejectSwitch(q, c.identity, c.auth),
    status: (q: never) => w.status(q),
  });
}

/** Starts WorktreeService on `host:port`. @throws EcpsError IO_ERROR when the port cannot be bound or the store read. */
export async function startWorktreeService(options: StartWorktreeOptions): Promise<RunningWorktree> {
  const { host = '127.0.0.1', port = 50053, server: shared, tls, auth, ...rest } = options;
  const worktrees = await WorktreeService.open(rest);
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  addWorktreeService(server, worktrees);
  const bound = shared ? shared.port : await server.bind(host, port);
  return {
    worktrees,
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      worktrees.close();
      if (!shared) await server.shutdown(1000);
    },
  };
}
