// SPDX-License-Identifier: Apache-2.0
// Serving WorktreeService (+ health).
import { hostServices } from '@ecps/sw4rm';
import type { CallContext, Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { WorktreeServiceService } from '@ecps/sw4rm/proto';
import type { WorktreeServiceOptions } from './worktree-service';
import { WorktreeService } from './worktree-service';

/** Options of {@link startWorktreeService}. */
export interface StartWorktreeOptions extends WorktreeServiceOptions, HostingOptions {}

/** A running WorktreeService. */
export interface RunningWorktree extends Hosted {
  worktrees: WorktreeService;
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
  const worktrees = await WorktreeService.open(options);
  return { worktrees, ...(await hostServices(options, 50053, (s) => addWorktreeService(s, worktrees), () => worktrees.close())) };
}
