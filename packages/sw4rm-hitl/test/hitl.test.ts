// SPDX-License-Identifier: Apache-2.0
// HitlService over real gRPC: a person answers through the queue directory (what `ecps hitl answer` writes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { ManualClock } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { MessageType, buildEnvelope, createClient } from '@ecps/sw4rm';
import { HitlReasonType } from '@ecps/sw4rm/proto';
import { FileHitlQueue, answerHitl, hitlDecisionEnvelope, hitlInvocationEnvelope, listPendingHitl, parseHitlDecision, parseHitlInvocation, startHitl } from '../src/index';
import type { PendingHitl } from '../src/index';

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

  it('questions go out as HITL_INVOCATION envelopes and a decision envelope answers them', async () => {
    const dir = tmp();
    const announced: PendingHitl[] = [];
    const running = await startHitl({ port: 0, dir, pollIntervalMs: 60_000, onInvocation: (p) => void announced.push(p) });
    const hitl = createClient('hitl', `127.0.0.1:${running.port}`, { timeoutMs: 20_000 });
    try {
      const decision = hitl.decide({ reasonType: HitlReasonType.TOOL_PRIVILEGE_ESCALATION, context: new Uint8Array([0xff, 0]), proposedActions: ['deny', 'approve'], priority: 2 });
      await waitFor(() => announced.length === 1, 'the invocation announced');
      const out = hitlInvocationEnvelope('hub', announced[0]!);
      expect(out).toMatchObject({ messageType: MessageType.HITL_INVOCATION, correlationId: announced[0]!.id, producerId: 'hub' });
      const seen = parseHitlInvocation(out)!;
      expect(seen).toEqual({ invocation_id: announced[0]!.id, correlation_id: announced[0]!.id, reason_type: 'TOOL_PRIVILEGE_ESCALATION', priority: 2, proposed_actions: ['deny', 'approve'], suggested_action: 'deny', context_b64: '/wA=' });
      // the reviewer answers with an envelope (the poll timer is an hour away: the answer takes effect at once)
      const answer = hitlDecisionEnvelope('reviewer-1', seen.invocation_id, 'approve', { rationale: 'ok once', payload: enc('x') });
      expect(answer.correlationId).toBe(seen.invocation_id);
      const parsed = parseHitlDecision(answer)!;
      running.queue.answer(parsed.invocation_id, parsed.decision, { rationale: parsed.rationale, payload: Buffer.from(parsed.patch_b64, 'base64'), by: answer.producerId });
      const d = await decision;
      expect({ action: d.action, rationale: d.rationale, payload: new TextDecoder().decode(d.decisionPayload) }).toEqual({ action: 'approve', rationale: 'ok once', payload: 'x' });
      expect(announced).toHaveLength(1);
      // other envelopes are not HITL; malformed HITL payloads are typed errors
      expect(parseHitlDecision(out)).toBeUndefined();
      expect(parseHitlInvocation(buildEnvelope({ producerId: 'p', messageType: MessageType.DATA, payload: '{}' }))).toBeUndefined();
      const bad = (payload: string) => ({ ...answer, payload: enc(payload) });
      for (const p of ['nope', '[]', '{"decision":"approve"}', `{"invocation_id":"${seen.invocation_id}","decision":"maybe"}`, `{"invocation_id":"x","decision":"deny","patch_b64":"%%"}`]) {
        expect(() => parseHitlDecision(bad(p))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      }
      expect(() => hitlDecisionEnvelope('r', 'x', 'maybe' as never)).toThrow(/decision must be one of/);
      expect(() => running.queue.answer(seen.invocation_id, 'deny')).toThrow(/already decided/);
    } finally {
      hitl.close();
      await running.stop();
    }
  });
});
