// SPDX-License-Identifier: Apache-2.0
// WorktreeService over real gRPC on real git worktrees of a temporary repository.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { createClient } from '@ecps/sw4rm';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { startWorktreeService } from '../src/index';

let dir: string;
let repo: string;
const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { encoding: 'utf8' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wt-'));
  repo = join(dir, 'repo');
  execFileSync('git', ['init', '-q', '-b', 'main', repo]);
  git('commit', '-q', '--allow-empty', '-m', 'init');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('WorktreeService over gRPC (spec §3.9)', () => {
  it('binds agents to real git worktrees, confines paths, keeps worktrees exclusive, and runs guarded switches through a person', async () => {
    const clock = new ManualClock();
    const asked: string[] = [];
    let answer = true;
    const root = join(dir, 'worktrees');
    const options = {
      port: 0,
      clock,
      git: { repositories: { app: repo }, root },
      beforeBind: (_r: string, worktreeId: string) => worktreeId !== 'forbidden',
      askHuman: async (b: { agentId: string; pendingTarget: string }) => {
        asked.push(`${b.agentId}→${b.pendingTarget}`);
        return answer;
      },
    };
    let store = await LevelKvStore.open(join(dir, 'state'));
    let running = await startWorktreeService({ ...options, store });
    let w = createClient('worktree', `127.0.0.1:${running.port}`);
    try {
      expect(await w.status({ agentId: 'nobody' })).toEqual({ repoId: '', worktreeId: '', state: 'UNBOUND' });
      expect(await w.bind({ agentId: 'a', repoId: 'app', worktreeId: 'feature-1' })).toEqual({ ok: true, reason: '' });
      expect(existsSync(join(root, 'app', 'feature-1', '.git'))).toBe(true);
      expect(git('worktree', 'list', '--porcelain')).toContain('branch refs/heads/sw4rm/feature-1');
      expect(await w.bind({ agentId: 'a', repoId: 'app', worktreeId: 'feature-1' })).toEqual({ ok: true, reason: '' }); // same binding again
      expect(await w.bind({ agentId: 'a', repoId: 'app', worktreeId: 'other' })).toEqual({ ok: false, reason: 'already_bound' });
      expect((await w.bind({ agentId: 'b', repoId: 'app', worktreeId: 'feature-1' })).reason).toBe('worktree_locked');
      expect(await w.bind({ agentId: 'b', repoId: 'app', worktreeId: 'forbidden' })).toEqual({ ok: false, reason: 'policy_denied' });
      expect((await w.bind({ agentId: 'b', repoId: 'app', worktreeId: '..' })).reason).toBe('permission_denied');
      expect(await w.status({ agentId: 'b' })).toMatchObject({ state: 'BIND_FAILED' });
      expect((await w.bind({ agentId: 'b', repoId: 'nope', worktreeId: 'x' })).reason).toBe('worktree_not_found');
      symlinkSync(dir, join(root, 'app', 'sneaky'));
      expect((await w.bind({ agentId: 'b', repoId: 'app', worktreeId: 'sneaky' })).reason).toBe('permission_denied');
      git('worktree', 'add', '-q', join(root, 'app', 'frozen'));
      git('worktree', 'lock', join(root, 'app', 'frozen'));
      expect((await w.bind({ agentId: 'b', repoId: 'app', worktreeId: 'frozen' })).reason).toBe('worktree_locked');
      expect(await w.bind({ agentId: 'b', repoId: 'app', worktreeId: 'feature-2' })).toEqual({ ok: true, reason: '' });

      // a switch that needs a person: approved → non-home for the TTL, then home again
      expect(await w.requestSwitch({ agentId: 'a', targetWorktreeId: 'hotfix', requiresHitl: true })).toMatchObject({ state: 'SWITCH_PENDING' });
      expect(await w.unbind({ agentId: 'a' })).toEqual({ ok: false });
      await waitFor(() => running.worktrees.workdirOf('a') === join(root, 'app', 'hotfix'), 'approved switch');
      expect(asked).toEqual(['a→hotfix']);
      expect(await w.status({ agentId: 'a' })).toEqual({ repoId: 'app', worktreeId: 'hotfix', state: 'BOUND_NON_HOME' });
      clock.advance(300_000);
      expect(await w.status({ agentId: 'a' })).toEqual({ repoId: 'app', worktreeId: 'feature-1', state: 'BOUND_HOME' });
      answer = false;
      await w.requestSwitch({ agentId: 'b', targetWorktreeId: 'feature-1', requiresHitl: true });
      await waitFor(() => asked.length === 2, 'second question');
      await waitFor(() => running.worktrees.workdirOf('b') === join(root, 'app', 'feature-2'), 'rejected switch');
      expect(await w.status({ agentId: 'b' })).toMatchObject({ state: 'BOUND_HOME', worktreeId: 'feature-2' });
      // supervisor approval of a switch to a worktree someone holds is refused (state back home)
      await w.requestSwitch({ agentId: 'b', targetWorktreeId: 'feature-1', requiresHitl: false });
      expect(await w.approveSwitch({ agentId: 'b', targetWorktreeId: 'feature-1', ttlMs: 1000 })).toMatchObject({ state: 'BOUND_HOME', worktreeId: 'feature-2' });
      await running.worktrees.idle();
    } finally {
      w.close();
      await running.stop();
      await store.close();
    }
    // bindings are durable
    store = await LevelKvStore.open(join(dir, 'state'));
    running = await startWorktreeService({ ...options, store });
    w = createClient('worktree', `127.0.0.1:${running.port}`);
    try {
      expect(await w.status({ agentId: 'a' })).toEqual({ repoId: 'app', worktreeId: 'feature-1', state: 'BOUND_HOME' });
      expect(await w.unbind({ agentId: 'a' })).toEqual({ ok: true });
      expect(await w.status({ agentId: 'a' })).toMatchObject({ state: 'UNBOUND' });
    } finally {
      w.close();
      await running.stop();
      await store.close();
    }
  }, 60_000);

  it('a bind that failed on the file system is retried with backoff (injected clock) and recovers', async () => {
    const clock = new ManualClock();
    const root = join(dir, 'retry-worktrees');
    const running = await startWorktreeService({ port: 0, clock, git: { repositories: { app: repo }, root }, bindRetry: { initialDelayMs: 1000 } });
    const w = createClient('worktree', `127.0.0.1:${running.port}`);
    try {
      mkdirSync(join(root, 'app', 'busy'), { recursive: true }); // a directory in the way: git cannot add the worktree
      expect(await w.bind({ agentId: 'a', repoId: 'app', worktreeId: 'busy' })).toEqual({ ok: false, reason: 'filesystem_error' });
      expect(running.worktrees.workdirOf('a')).toBeUndefined(); // no worktree tasks meanwhile
      rmSync(join(root, 'app', 'busy'), { recursive: true });
      clock.advance(999);
      expect(await w.status({ agentId: 'a' })).toMatchObject({ state: 'BIND_FAILED' });
      clock.advance(1);
      await waitFor(() => running.worktrees.workdirOf('a') !== undefined, 'bound by the retry');
      expect(await w.status({ agentId: 'a' })).toMatchObject({ state: 'BOUND_HOME' });
      expect(existsSync(join(root, 'app', 'busy', '.git'))).toBe(true);
    } finally {
      w.close();
      await running.stop();
    }
  }, 60_000);
});
