// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-worktree.

export { GitWorktrees, WorktreeBindError } from './git-worktrees';
export { WorktreeService } from './worktree-service';
export { startWorktreeService, addWorktreeService } from './server';

export type { GitWorktreesOptions, WorktreeInfo } from './git-worktrees';
export type { WorktreeServiceOptions } from './worktree-service';
export type { StartWorktreeOptions, RunningWorktree } from './server';
