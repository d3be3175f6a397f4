// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import {
  AGENT_TRANSITIONS,
  ActivityBuffer,
  AckStage,
  AgentState,
  AgentStateMachine,
  BufferFullError,
  MessageType,
  WORKTREE_TRANSITIONS,
  WorktreeManager,
  buildEnvelope,
  isAgentTransitionAllowed,
  jsonFileActivityStorage,
  jsonFileWorktreeStore,
  memoryActivityStorage,
} from '../src/index';
import type { ActivityStorage, WorktreeEvent, WorktreeState } from '../src/index';

const dirs: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw4rm-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const env = (token = '') => buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, idempotencyToken: token });

describe('persistent activity buffer (spec §3.8, checklist 11)', () => {
  it('starts fresh without a file, writes through atomically and reloads', async () => {
    const path = join(tmp(), 'sw4rm_activity.json');
    const buf = await ActivityBuffer.open({ storage: jsonFileActivityStorage(path) });
    const e = env('tok-1');
    await buf.recordOutgoing(e);
    expect(JSON.parse(readFileSync(path, 'utf8')).order).toEqual([e.messageId]);
    expect(readdirSync(join(path, '..')).filter((f) => f.includes('.tmp'))).toEqual([]);
    await buf.applyAck({ ackForMessageId: e.messageId, ackStage: AckStage.READ, errorCode: 0 });
    expect(buf.unacked()).toHaveLength(1);
    await buf.close();
    const again = await ActivityBuffer.open({ storage: jsonFileActivityStorage(path) });
    expect(again.get(e.messageId)?.ackStage).toBe(AckStage.READ);
    expect(again.byToken('tok-1')).toBe(e.messageId);
    expect(again.reconcile().map((r) => r.messageId)).toEqual([e.messageId]);
    await again.close();
  });

  it('a corrupt snapshot is an error, never an empty buffer (unless degraded start is asked for)', async () => {
    const dir = tmp();
    const path = join(dir, 'a.json');
    writeFileSync(path, '{"version":"1.0","records":');
    const s1 = jsonFileActivityStorage(path);
    await expect(ActivityBuffer.open({ storage: s1 })).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
    await s1.close();
    writeFileSync(path, '{"version":"9","records":{},"order":[]}');
    const s2 = jsonFileActivityStorage(path);
    await expect(ActivityBuffer.open({ storage: s2 })).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
    await s2.close();
    const s3 = jsonFileActivityStorage(path, { allowDegradedStart: true, clock: new ManualClock(5) });
    const buf = await ActivityBuffer.open({ storage: s3 });
    expect(buf.size).toBe(0);
    expect(readdirSync(dir)).toContain('a.json.corrupt-5');
    await buf.close();
  });

  it('takes an exclusive lock', async () => {
    const path = join(tmp(), 'b.json');
    const s = jsonFileActivityStorage(path);
    expect(() => jsonFileActivityStorage(path)).toThrow(/locked/);
    await s.close();
    jsonFileActivityStorage(path).close();
  });

  it('rejects at capacity after pruning terminal records older than the window; never drops', async () => {
    const clock = new ManualClock();
    const buf = await ActivityBuffer.open({ storage: memoryActivityStorage(), maxItems: 2, dedupWindowMs: 1000, clock });
    const a = env();
    await buf.recordOutgoing(a);
    await buf.recordOutgoing(env());
    await expect(buf.recordOutgoing(env())).rejects.toBeInstanceOf(BufferFullError);
    await buf.applyAck({ ackForMessageId: a.messageId, ackStage: AckStage.FULFILLED, errorCode: 0 });
    await expect(buf.recordOutgoing(env())).rejects.toMatchObject({ code: 'QUEUE_FULL' }); // not yet older than the window
    clock.advance(1000);
    await buf.recordOutgoing(env());
    expect(buf.size).toBe(2);
    expect(buf.get(a.messageId)).toBeUndefined();
  });

  it('TIMED_OUT stays terminal; a failed save propagates and rolls back', async () => {
    let fail = false;
    const inner = memoryActivityStorage();
    const storage: ActivityStorage = { ...inner, save: async (s) => (fail ? Promise.reject(new Error('disk full')) : inner.save(s)), load: () => inner.load(), close: () => inner.close() };
    const buf = await ActivityBuffer.open({ storage });
    const e = env();
    await buf.recordOutgoing(e);
    await buf.applyAck({ ackForMessageId: e.messageId, ackStage: AckStage.TIMED_OUT, errorCode: 3 });
    expect(await buf.applyAck({ ackForMessageId: e.messageId, ackStage: AckStage.FULFILLED, errorCode: 0 })).toBe(false);
    fail = true;
    await expect(buf.recordOutgoing(env())).rejects.toThrow('disk full');
    expect(buf.size).toBe(1);
  });

  it('propagates a real filesystem failure', async () => {
    const dir = tmp();
    const buf = await ActivityBuffer.open({ storage: jsonFileActivityStorage(join(dir, 'c.json')) });
    chmodSync(dir, 0o500);
    try {
      if (process.getuid?.() === 0) return; // root ignores directory permissions
      await expect(buf.recordOutgoing(env())).rejects.toMatchObject({ code: 'IO_ERROR' });
      expect(buf.size).toBe(0);
    } finally {
      chmodSync(dir, 0o700);
    }
  });
});

describe('agent state machine (spec §3.2, checklist 13)', () => {
  const all = Object.values(AgentState).filter((v): v is AgentState => typeof v === 'number' && v > 0);
  it('allows exactly the tabulated transitions', () => {
    let allowed = 0;
    for (const from of all)
      for (const to of all) {
        const listed = AGENT_TRANSITIONS.get(from)?.includes(to) ?? false;
        expect(isAgentTransitionAllowed(from, to)).toBe(listed || from === to);
        if (listed) allowed++;
      }
    expect(allowed).toBe(22);
    for (const s of [AgentState.INITIALIZING, AgentState.SUSPENDED, AgentState.RECOVERING]) expect(isAgentTransitionAllowed(s, AgentState.FAILED_STATE)).toBe(true);
    const m = new AgentStateMachine();
    m.transition(AgentState.RUNNABLE);
    expect(() => m.transition(AgentState.RUNNING)).toThrow(/not allowed/);
  });
});

describe('worktree binding (spec §3.9, checklist 13)', () => {
  it('has exactly the tabulated transitions', () => {
    const count = Object.values(WORKTREE_TRANSITIONS).reduce((n, t) => n + Object.keys(t).length, 0);
    expect(count).toBe(13);
    expect(WORKTREE_TRANSITIONS.SWITCH_PENDING.UNBIND).toBeUndefined();
    const table: [WorktreeState, WorktreeEvent, WorktreeState][] = [
      ['UNBOUND', 'BIND_OK', 'BOUND_HOME'],
      ['BOUND_NON_HOME', 'TTL_EXPIRED', 'BOUND_HOME'],
      ['SWITCH_PENDING', 'SWITCH_REJECT', 'BOUND_HOME'],
    ];
    for (const [from, ev, to] of table) expect(WORKTREE_TRANSITIONS[from][ev]).toBe(to);
  });

  it('binds with policy hooks, switches with TTL, persists across restarts', async () => {
    const clock = new ManualClock();
    const path = join(tmp(), 'wt.json');
    const after: string[] = [];
    const m = new WorktreeManager({
      clock,
      store: jsonFileWorktreeStore(path),
      hooks: {
        beforeBind: (_r, wt) => wt !== 'forbidden',
        bind: (_r, wt) => {
          if (wt === 'missing') throw new Error('worktree_not_found');
        },
        afterBind: (b) => void after.push(b.worktreeId),
      },
    });
    expect(await m.bind('a', 'r', 'forbidden')).toEqual({ ok: false, reason: 'policy_denied' });
    expect(m.status('a').state).toBe('UNBOUND');
    expect(await m.bind('a', 'r', 'missing')).toEqual({ ok: false, reason: 'worktree_not_found' });
    expect(m.status('a').state).toBe('BIND_FAILED');
    expect(await m.bind('a', 'r', 'home')).toEqual({ ok: true, reason: '' });
    expect(after).toEqual(['home']);
    expect(await m.bind('a', 'r', 'home')).toEqual({ ok: true, reason: '' });
    expect(await m.bind('a', 'r', 'other')).toEqual({ ok: false, reason: 'already_bound' });
    expect(m.requestSwitch('a', 'feature', false).state).toBe('SWITCH_PENDING');
    expect(m.unbind('a').ok).toBe(false);
    expect(m.approveSwitch('a', 'wrong', 0).state).toBe('SWITCH_PENDING');
    expect(m.approveSwitch('a', 'feature', 0)).toMatchObject({ state: 'BOUND_NON_HOME', worktreeId: 'feature' });
    const reloaded = new WorktreeManager({ clock, store: jsonFileWorktreeStore(path) });
    expect(reloaded.status('a')).toMatchObject({ state: 'BOUND_NON_HOME', worktreeId: 'feature' });
    clock.advance(300_000);
    expect(m.status('a')).toMatchObject({ state: 'BOUND_HOME', worktreeId: 'home' });
    expect(m.unbind('a').ok).toBe(true);
    expect(m.status('zzz')).toMatchObject({ state: 'UNBOUND', repoId: '', worktreeId: '' });
    m.close();
    reloaded.close();
  });

  it('retries a transiently failed bind at most 3 times with exponential backoff, then notifies once', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const attempts: number[] = [];
    const stuck: string[] = [];
    let healthy = false;
    const m = new WorktreeManager({
      clock,
      bindRetry: { initialDelayMs: 100 },
      hooks: {
        bind: (_r, wt, agentId) => {
          attempts.push(clock.now() - t0);
          if (wt === 'denied') throw new Error('permission_denied');
          if (!healthy || agentId === 'never') throw new Error('filesystem_error: disk busy');
        },
        onBindStuck: (b, reason) => void stuck.push(`${b.agentId}:${reason}`),
      },
    });
    const settle = async () => {
      for (let i = 0; i < 3; i++) await Promise.resolve();
    };
    expect(await m.bind('a', 'r', 'home')).toEqual({ ok: false, reason: 'filesystem_error' });
    expect(m.status('a').state).toBe('BIND_FAILED');
    clock.advance(99);
    expect(attempts).toEqual([0]);
    clock.advance(1); // retry 1 at +100 ms: fails again
    await settle();
    healthy = true; // the disk is back for retry 2 at +300 ms
    clock.advance(200);
    await settle();
    expect(attempts).toEqual([0, 100, 300]);
    expect(m.status('a')).toMatchObject({ state: 'BOUND_HOME', worktreeId: 'home' });

    const base = clock.now() - t0;
    await m.bind('never', 'r', 'x');
    for (const step of [100, 200, 400, 800, 1600]) {
      clock.advance(step);
      await settle();
    }
    expect(attempts.slice(3).map((t) => t - base)).toEqual([0, 100, 300, 700]); // 3 retries, then none
    expect(stuck).toEqual([]);
    clock.advance(60_000);
    expect(stuck).toEqual(['never:filesystem_error']);
    clock.advance(600_000);
    expect(stuck).toHaveLength(1);

    await m.bind('d', 'r', 'denied'); // not transient: no retry
    const before = attempts.length;
    clock.advance(10_000);
    await settle();
    expect(attempts.length).toBe(before);
    healthy = false;
    await m.bind('u', 'r', 'y');
    expect(m.unbind('u').ok).toBe(true); // unbind cancels the retries
    healthy = true;
    clock.advance(10_000);
    await settle();
    expect(m.status('u').state).toBe('UNBOUND');
    m.close();
  });
});
