// SPDX-License-Identifier: Apache-2.0
// HitlService over real gRPC: a person answers through the queue directory (what `ecps hitl answer` writes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { ManualClock } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { createClient } from '@ecps/sw4rm';
import { HitlReasonType } from '@ecps/sw4rm/proto';
import { FileHitlQueue, answerHitl, listPendingHitl, startHitl } from '../src/index';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hitl-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const enc = (s: string) => new TextEncoder().encode(s);

describe('HitlService over gRPC (spec §3.14)', () => {
  it('Decide blocks until a person answers; a retry of the same invocation gets the same answer', async () => {
    const dir = tmp();
    const running = await startHitl({ port: 0, dir, pollIntervalMs: 20 });
    const hitl = createClient('hitl', `127.0.0.1:${running.port}`, { timeoutMs: 20_000 });
    try {
      await expect(hitl.decide({})).rejects.toMatchObject({ grpcCode: status.INVALID_ARGUMENT });
      const invocation = { reasonType: HitlReasonType.SECURITY_APPROVAL, context: enc('{"tool":"rm","args":["-rf","build"]}'), proposedActions: ['approve', 'deny'], priority: 1 };
      const decision = hitl.decide(invocation);
      await waitFor(() => listPendingHitl(dir).length === 1, 'the invocation to be queued');
      const [pending] = listPendingHitl(dir);
      expect(pending).toMatchObject({ reason_type: 'SECURITY_APPROVAL', context: '{"tool":"rm","args":["-rf","build"]}', proposed_actions: ['approve', 'deny'], priority: 1 });
      expect(() => answerHitl(dir, pending!.id, 'maybe')).toThrow(/action must be one of/);
      answerHitl(dir, pending!.id, 'modify', { rationale: 'only build/', payload: enc('{"args":["build"]}'), by: 'alice' });
      expect(() => answerHitl(dir, pending!.id, 'approve')).toThrow(/already decided/);
      const d = await decision;
      expect({ ...d, decisionPayload: new TextDecoder().decode(d.decisionPayload) }).toEqual({ action: 'modify', rationale: 'only build/', decisionPayload: '{"args":["build"]}' });
      expect(listPendingHitl(dir)).toEqual([]);
      expect((await hitl.decide(invocation)).action).toBe('modify');
    } finally {
      hitl.close();
      await running.stop();
    }
  }, 30_000);

  it('the fallback decides at the deadline; without one the call fails UNAVAILABLE; pending invocations survive a restart', async () => {
    const dir = tmp();
    const clock = new ManualClock();
    const q = new FileHitlQueue({ dir, clock, deadlineMs: 5000, fallback: { action: 'deny' } });
    const denied = q.decide({ reasonType: HitlReasonType.TOOL_PRIVILEGE_ESCALATION, context: enc('sudo'), proposedActions: [], priority: 0 });
    clock.advance(5000);
    expect(await denied).toMatchObject({ action: 'deny', rationale: 'fallback: no human decision before the deadline' });
    q.close();

    const strict = new FileHitlQueue({ dir, clock, deadlineMs: 5000 });
    const failing = strict.decide({ reasonType: HitlReasonType.CONFLICT, context: enc('a vs b'), proposedActions: [], priority: 0 });
    const waiting = strict.decide({ reasonType: HitlReasonType.CONFLICT, context: enc('c vs d'), proposedActions: [], priority: 0 });
    clock.advance(5000);
    await expect(failing).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(waiting).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    strict.close();
    const later = new FileHitlQueue({ dir, clock, pollIntervalMs: 10 });
    expect(later.list().map((p) => p.context).sort()).toEqual(['a vs b', 'c vs d']);
    const again = later.decide({ reasonType: HitlReasonType.CONFLICT, context: enc('a vs b'), proposedActions: [], priority: 0 });
    answerHitl(dir, later.list().find((p) => p.context === 'a vs b')!.id, 'approve');
    clock.advance(10);
    expect((await again).action).toBe('approve');
    later.close();
  });
});
