// SPDX-License-Identifier: Apache-2.0
// Real `git worktree` operations for worktree binding: one directory per (repository, worktree id) under a
// configured root, created with `git worktree add` on a `sw4rm/<id>` branch when missing. Paths are confined:
// ids are plain names, the target's canonical path must stay under the root, and no component may be a symlink.
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Options of {@link GitWorktrees}. */
export interface GitWorktreesOptions {
  /** Repository id → path of a git repository (its main worktree). */
  repositories: Readonly<Record<string, string>>;
  /** Where worktrees are created: `<root>/<repoId>/<worktreeId>`. */
  root: string;
  /** Create a missing worktree (`git worktree add`); default true. Else a missing one is `worktree_not_found`. */
  createMissing?: boolean;
  /** The git executable; default `git` on PATH. */
  git?: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A bind failure; `message` starts with the reason WorktreeService reports. */
export class WorktreeBindError extends Error {
  constructor(readonly reason: 'worktree_not_found' | 'permission_denied' | 'filesystem_error' | 'worktree_locked', detail: string) {
    super(`${reason}: ${detail}`);
    this.name = 'WorktreeBindError';
  }
}

/** One worktree as `git worktree list --porcelain` reports it. */
export interface WorktreeInfo {
  path: string;
  branch: string;
  locked: boolean;
}

/** Git worktrees of the configured repositories. */
export class GitWorktrees {
  private readonly git: string;

  constructor(private readonly options: GitWorktreesOptions) {
    this.git = options.git ?? 'git';
  }

  /**
   * The confined directory of a worktree (not touched).
   * @throws WorktreeBindError worktree_not_found (unknown repository), permission_denied (bad id, escape, symlink).
   */
  pathOf(repoId: string, worktreeId: string): string {
    if (!Object.hasOwn(this.options.repositories, repoId)) throw new WorktreeBindError('worktree_not_found', `unknown repository ${repoId}`);
    if (!ID.test(repoId) || !ID.test(worktreeId) || worktreeId.includes('..')) throw new WorktreeBindError('permission_denied', `invalid id ${repoId}/${worktreeId}`);
    mkdirSync(this.options.root, { recursive: true });
    const root = realpathSync(this.options.root);
    const target = resolve(root, repoId, worktreeId);
    const rel = relative(root, target);
    if (rel.startsWith('..') || rel.split(sep).length !== 2) throw new WorktreeBindError('permission_denied', `${target} is outside ${root}`);
    for (const part of [join(root, repoId), target]) {
      if (existsSync(part) && lstatSync(part).isSymbolicLink()) throw new WorktreeBindError('permission_denied', `${part} is a symbolic link`);
    }
    return target;
  }

  /** Worktrees of a repository. @throws WorktreeBindError filesystem_error when git fails. */
  async list(repoId: string): Promise<WorktreeInfo[]> {
    const out = await this.gitIn(repoId, ['worktree', 'list', '--porcelain']);
    const items: WorktreeInfo[] = [];
    for (const block of out.split('\n\n')) {
      const lines = block.split('\n').filter(Boolean);
      const path = lines.find((l) => l.startsWith('worktree '))?.slice(9);
      if (!path) continue;
      const branch = lines.find((l) => l.startsWith('branch '))?.slice(7).replace(/^refs\/heads\//, '') ?? '';
      items.push({ path, branch, locked: lines.some((l) => l === 'locked' || l.startsWith('locked ')) });
    }
    return items;
  }

  /**
   * Makes sure the worktree exists (creating it when allowed) and returns its path.
   * @throws WorktreeBindError with the bind reason: worktree_not_found, permission_denied, filesystem_error, worktree_locked.
   */
  async ensure(repoId: string, worktreeId: string): Promise<string> {
    const path = this.pathOf(repoId, worktreeId);
    const existing = (await this.list(repoId)).find((w) => w.path === path);
    if (existing) {
      if (existing.locked) throw new WorktreeBindError('worktree_locked', `${path} is locked (git worktree lock)`);
      return path;
    }
    if (existsSync(path)) throw new WorktreeBindError('filesystem_error', `${path} exists but is not a worktree of ${repoId}`);
    if (this.options.createMissing === false) throw new WorktreeBindError('worktree_not_found', `${repoId}/${worktreeId}`);
    const branch = `sw4rm/${worktreeId}`;
    const hasBranch = await this.gitIn(repoId, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).then(
      () => true,
      () => false,
    );
    await this.gitIn(repoId, hasBranch ? ['worktree', 'add', path, branch] : ['worktree', 'add', '-b', branch, path]);
    return path;
  }

  private async gitIn(repoId: string, args: string[]): Promise<string> {
    const repo = this.options.repositories[repoId]!;
    try {
      const { stdout } = await run(this.git, ['-C', repo, ...args], { maxBuffer: 4 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string; code?: string };
      if (e.code === 'EACCES') throw new WorktreeBindError('permission_denied', e.message);
      throw new WorktreeBindError('filesystem_error', (e.stderr || e.message).trim());
    }
  }
}
