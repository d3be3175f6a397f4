// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { waitFor } from '@ecps/testkit';
import { ManualClock } from '@ecps/core';
import { MessageType, createClient, durationFromMs, memoryKvStore } from '@ecps/sw4rm';
import type { Envelope, KvOp, KvStore } from '@ecps/sw4rm';
import { DecisionOutcome, NegotiationPolicy } from '@ecps/sw4rm/proto';
import { NegotiationRoom, NegotiationService, PolicyStore, startNegotiation } from '../src/index';

const enc = (s: string) => new TextEncoder().encode(s);

describe('NegotiationService over gRPC (spec §3.10)', () => {
  it('records steps, fans out one event each, and maps errors to gRPC codes', async () => {
    const events: Envelope[] = [];
    const running = await startNegotiation({ port: 0, emit: (e) => void events.push(e) });
    const address = `127.0.0.1:${running.port}`;
    const n = createClient('negotiation', address);
    const policy = createClient('schedulerPolicy', address);
    try {
      await running.policies.setAgentPreferences('b', { maxRounds: 2, scoreThreshold: 0.8, diffTolerance: 0, roundTimeoutMs: 0n, tokenBudgetPerRound: 0n, totalTokenBudget: 0n, oscillationLimit: 0 });
      await expect(n.open({ negotiationId: 'n1', participants: ['a'] })).rejects.toMatchObject({ grpcCode: 3 });
      await n.open({ negotiationId: 'n1', correlationId: 'c1', topic: 'api shape', participants: ['a', 'b'] });
      await expect(n.open({ negotiationId: 'n1', participants: ['a', 'b'] })).rejects.toMatchObject({ grpcCode: 6 });
      const eff = await policy.getEffectivePolicy({ negotiationId: 'n1' });
      expect(eff.effective!.policy).toMatchObject({ maxRounds: 2 });
      expect(eff.effective!.policy!.scoreThreshold).toBeCloseTo(0.8, 5);
      await expect(n.propose({ negotiationId: 'n1', fromAgent: 'a', payload: new Uint8Array() })).rejects.toMatchObject({ grpcCode: 3 });
      await n.propose({ negotiationId: 'n1', fromAgent: 'a', contentType: 'application/json', payload: enc('{"v":1}') });
      await n.evaluate({ negotiationId: 'n1', fromAgent: 'b', confidenceScore: 0.9, notes: 'ok' });
      await expect(n.decide({ negotiationId: 'n1', decidedBy: 'consensus' })).rejects.toMatchObject({ grpcCode: 9 }); // one evaluation only
      await n.evaluate({ negotiationId: 'n1', fromAgent: 'a', confidenceScore: 0.85, notes: 'fine' });
      await n.decide({ negotiationId: 'n1', decidedBy: 'consensus', contentType: 'application/json', result: enc('{"v":1}') });
      await expect(n.propose({ negotiationId: 'n1', fromAgent: 'a', payload: enc('x') })).rejects.toMatchObject({ grpcCode: 9 });
      await expect(n.abort({ negotiationId: 'nope' })).rejects.toMatchObject({ grpcCode: 5 });
      expect(events.map((e) => JSON.parse(new TextDecoder().decode(e.payload)).kind)).toEqual(['open', 'policy', 'propose', 'evaluate', 'evaluate', 'decide']);
      for (const e of events) expect(e).toMatchObject({ messageType: MessageType.NEGOTIATION, correlationId: 'n1', contentType: 'application/json' });
      const open = JSON.parse(new TextDecoder().decode(events[0]!.payload));
      expect(open).toMatchObject({ kind: 'open', topic: 'api shape', corr: 'c1' });
      expect(open.ts).toMatch(/Z$/);
      expect(JSON.parse(new TextDecoder().decode(events[2]!.payload))).toMatchObject({ kind: 'propose', from: 'a', ct: 'application/json', payload_b64: Buffer.from('{"v":1}').toString('base64') });
      expect(await policy.submitEvaluation({ negotiationId: 'zzz' })).toMatchObject({ accepted: false });
      expect(await policy.hitlAction({ negotiationId: 'n1', action: 'approve' })).toEqual({ ok: true, reason: '' });
    } finally {
      n.close();
      policy.close();
      await running.stop();
    }
  });

  it('enforces max rounds and the debate timeout', async () => {
    const clock = new ManualClock();
    const events: string[] = [];
    const running = await startNegotiation({ port: 0, clock, emit: (e) => void events.push(JSON.parse(new TextDecoder().decode(e.payload)).kind) });
    const n = running.negotiation;
    await running.policies.setAgentPreferences('a', { maxRounds: 1, scoreThreshold: 0, diffTolerance: 0, roundTimeoutMs: 0n, tokenBudgetPerRound: 0n, totalTokenBudget: 0n, oscillationLimit: 0 });
    await n.open({ negotiationId: 'n2', correlationId: '', topic: '', participants: ['a', 'b'], intensity: 3, debateTimeout: durationFromMs(5000) });
    await n.propose({ negotiationId: 'n2', fromAgent: 'a', contentType: '', payload: enc('1') });
    await expect(n.counter({ negotiationId: 'n2', fromAgent: 'b', contentType: '', payload: enc('2') })).rejects.toMatchObject({ code: 'CONFLICT' });
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    expect(n.get('n2')!.state).toBe('ABORTED');
    expect(events.at(-1)).toBe('abort');
    await running.stop();
  });

  it('effective policy only tightens the base', async () => {
    const p = new PolicyStore();
    await p.setAgentPreferences('x', { maxRounds: 10, scoreThreshold: 0.5, diffTolerance: 0.05, roundTimeoutMs: 10n, tokenBudgetPerRound: 0n, totalTokenBudget: 0n, oscillationLimit: 0 });
    const eff = p.derive('n', ['x', 'y']);
    expect(eff.policy).toMatchObject({ maxRounds: 5, roundTimeoutMs: 10n, oscillationLimit: 3 });
    expect(eff.policy!.scoreThreshold).toBeCloseTo(0.7, 5);
    expect(eff.policy!.diffTolerance).toBeCloseTo(0.05, 5);
    expect([...eff.applied.keys()]).toEqual(['x']);
  });
});

describe('Negotiation Room service (spec §3.11)', () => {
  const vote = (criticId: string, score: number, confidence: number, artifactId = 'art', negotiationRoomId = 'room') => ({
    vote: { artifactId, criticId, score, confidence, passed: true, strengths: [], weaknesses: [], recommendations: [], negotiationRoomId, votedAt: undefined },
  });

  it('decides when all requested critics voted; validates votes; GetDecision before → NOT_FOUND', async () => {
    const running = await startNegotiation({ port: 0 });
    const room = createClient('negotiationRoom', `127.0.0.1:${running.port}`);
    try {
      await room.submitProposal({ proposal: { artifactType: 3, artifactId: 'art', producerId: 'p', artifact: enc('code'), artifactContentType: 'text/plain', requestedCritics: ['c1', 'c2'], negotiationRoomId: 'room' } });
      await expect(room.getDecision({ artifactId: 'art', negotiationRoomId: 'room' })).rejects.toMatchObject({ grpcCode: 5 });
      await expect(room.submitVote(vote('c1', 11, 0.9))).rejects.toMatchObject({ grpcCode: 3 });
      await expect(room.submitVote(vote('c1', 9, 1.5))).rejects.toMatchObject({ grpcCode: 3 });
      const wait = room.waitForDecision({ artifactId: 'art', negotiationRoomId: 'room', timeoutSeconds: 5 });
      await room.submitVote(vote('c1', 9, 0.9));
      await expect(room.submitVote(vote('c1', 8, 0.9))).rejects.toMatchObject({ grpcCode: 6 });
      await room.submitVote(vote('outsider', 1, 0.9)); // stored, excluded from quorum
      await room.submitVote(vote('c2', 8, 0.8));
      const decided = await wait;
      expect(decided.decision).toMatchObject({ artifactId: 'art', negotiationRoomId: 'room' });
      expect((await room.getVotes({ artifactId: 'art', negotiationRoomId: 'room' })).voteCount).toBe(3);
      expect(decided.decision!.policyVersion).toMatch(/score-summary-v1/);
    } finally {
      room.close();
      await running.stop();
    }
  });

  it('WaitForDecision times out with DEADLINE_EXCEEDED; fail_closed deadline escalates', async () => {
    const clock = new ManualClock();
    const room = new NegotiationRoom({ clock, votingDeadlineMs: 10_000 });
    await room.submitProposal({ proposal: { artifactType: 1, artifactId: 'a1', producerId: 'p', artifact: enc('x'), artifactContentType: '', requestedCritics: ['c1', 'c2', 'c3'], negotiationRoomId: 'r', createdAt: undefined } });
    const waiting = room.waitForDecision({ artifactId: 'a1', negotiationRoomId: 'r', timeoutSeconds: 1 });
    clock.advance(1000);
    await expect(waiting).rejects.toMatchObject({ code: 'TIMEOUT' });
    await room.submitVote(vote('c1', 9, 0.9, 'a1', 'r'));
    clock.advance(9000);
    const d = await room.getDecision({ artifactId: 'a1', negotiationRoomId: 'r' });
    expect(d.decision!.outcome).toBe(DecisionOutcome.ESCALATED_TO_HITL);
  });
});

describe('Negotiation Room persistence', () => {
  it('proposals, votes and decisions survive a restart; a vote writes its own record, never the whole room', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { LevelKvStore } = await import('@ecps/sw4rm-store');
    const dir = mkdtempSync(join(tmpdir(), 'room-'));
    const commits: KvOp[][] = [];
    const open = async () => {
      const inner = await LevelKvStore.open(join(dir, 'state'));
      const store: KvStore = { load: (p) => inner.load(p), close: () => inner.close(), commit: (ops, d) => (commits.push([...ops]), inner.commit(ops, d)) };
      return store;
    };
    try {
      let store = await open();
      const r1 = await NegotiationRoom.open({ store });
      for (let i = 0; i < 20; i++) await r1.submitProposal({ proposal: { artifactType: 2, artifactId: `other-${i}`, producerId: 'x', artifact: enc('plan'), artifactContentType: 'text/plain', requestedCritics: ['c1'], negotiationRoomId: 'r', createdAt: undefined } });
      await r1.submitProposal({ proposal: { artifactType: 2, artifactId: 'p1', producerId: 'x', artifact: enc('plan'), artifactContentType: 'text/plain', requestedCritics: ['c1', 'c2'], negotiationRoomId: 'r', createdAt: undefined } });
      const v = (criticId: string) => ({ vote: { artifactId: 'p1', criticId, score: 9, confidence: 0.9, passed: true, strengths: [], weaknesses: [], recommendations: [], negotiationRoomId: 'r', votedAt: undefined } });
      commits.length = 0;
      await r1.submitVote(v('c1'));
      expect(commits.map((c) => c.map((op) => op.key))).toEqual([['room/vote/r\u0000p1\u0000c1']]);
      r1.close();
      await store.close();
      store = await open();
      const r2 = await NegotiationRoom.open({ store });
      expect((await r2.getVotes({ artifactId: 'p1', negotiationRoomId: 'r' })).voteCount).toBe(1);
      commits.length = 0;
      await r2.submitVote(v('c2'));
      expect(commits.map((c) => c.map((op) => op.key))).toEqual([['room/vote/r\u0000p1\u0000c2', 'room/decision/r\u0000p1']]);
      r2.close();
      await store.close();
      store = await open();
      const r3 = await NegotiationRoom.open({ store });
      expect((await r3.getDecision({ artifactId: 'p1', negotiationRoomId: 'r' })).decision).toMatchObject({ outcome: DecisionOutcome.APPROVED, artifactId: 'p1' });
      r3.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decided artifacts and ended negotiations are forgotten after their retention time', async () => {
    const clock = new ManualClock();
    const room = new NegotiationRoom({ clock, decidedRetentionMs: 60_000 });
    await room.submitProposal({ proposal: { artifactType: 1, artifactId: 'old', producerId: 'p', artifact: enc('x'), artifactContentType: '', requestedCritics: ['c1'], negotiationRoomId: 'r', createdAt: undefined } });
    await room.submitVote({ vote: { artifactId: 'old', criticId: 'c1', score: 9, confidence: 0.9, passed: true, strengths: [], weaknesses: [], recommendations: [], negotiationRoomId: 'r', votedAt: undefined } });
    clock.advance(60_000);
    await room.submitProposal({ proposal: { artifactType: 1, artifactId: 'new', producerId: 'p', artifact: enc('x'), artifactContentType: '', requestedCritics: ['c1'], negotiationRoomId: 'r', createdAt: undefined } });
    await expect(room.getVotes({ artifactId: 'old', negotiationRoomId: 'r' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    room.close();

    const policies = new PolicyStore();
    const n = new NegotiationService({ policies, clock, retentionMs: 1000 });
    await n.open({ negotiationId: 'n1', participants: ['a', 'b'], correlationId: '', topic: '', intensity: 0, debateTimeout: undefined });
    await n.abort({ negotiationId: 'n1', reason: 'done' });
    expect(policies.isKnown('n1')).toBe(true);
    clock.advance(1000);
    await n.open({ negotiationId: 'n2', participants: ['a', 'b'], correlationId: '', topic: '', intensity: 0, debateTimeout: undefined });
    expect(n.get('n1')).toBeUndefined();
    expect(policies.isKnown('n1')).toBe(false);
    n.close();
  });

  it('negotiation steps survive a crash: a restarted service carries on (rounds, evaluations, events, policy, debate timeout)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'negotiation-'));
    try {
      const clock = new ManualClock();
      const policies = new PolicyStore();
      expect(await policies.setNegotiationPolicy({ policy: NegotiationPolicy.fromPartial({ maxRounds: 2, scoreThreshold: 0.6 }) })).toEqual({ ok: true, reason: '' });
      let store = await LevelKvStore.open(join(dir, 'state'));
      const first = await NegotiationService.open({ policies, clock, store });
      const open = (negotiationId: string, debateTimeout?: number) =>
        ({ negotiationId, participants: ['a', 'b'], correlationId: '', topic: `topic ${negotiationId}`, intensity: 0, debateTimeout: debateTimeout ? durationFromMs(debateTimeout) : undefined });
      await first.open(open('n1'));
      await first.propose({ negotiationId: 'n1', fromAgent: 'a', contentType: 'text/plain', payload: enc('plan A'), artifactType: 0 } as never);
      await first.evaluate({ negotiationId: 'n1', fromAgent: 'a', confidenceScore: 0.9, notes: '' });
      await first.evaluate({ negotiationId: 'n1', fromAgent: 'b', confidenceScore: 0.8, notes: 'fine' });
      await first.open(open('slow', 10_000));
      clock.advance(6000);
      first.close();
      await store.abandon(); // as kill -9 leaves it

      const fresh = new PolicyStore(); // a new process: nothing in memory
      store = await LevelKvStore.open(join(dir, 'state'));
      const events: string[] = [];
      const second = await NegotiationService.open({ policies: fresh, clock, store, emit: (e) => void events.push(JSON.parse(new TextDecoder().decode(e.payload)).kind) });
      const n1 = second.get('n1')!;
      expect(n1).toMatchObject({ state: 'OPEN', rounds: 1 });
      expect([...n1.evaluations]).toEqual([['a', 0.9], ['b', 0.8]]);
      expect(n1.events.map((e) => e['kind'])).toEqual(['open', 'policy', 'propose', 'evaluate', 'evaluate']);
      expect((await fresh.getEffectivePolicy({ negotiationId: 'n1' })).effective?.policy).toMatchObject({ maxRounds: 2 });
      await second.counter({ negotiationId: 'n1', fromAgent: 'b', contentType: 'text/plain', payload: enc('plan B'), artifactType: 0 } as never);
      await expect(second.propose({ negotiationId: 'n1', fromAgent: 'a', contentType: 'text/plain', payload: enc('plan C'), artifactType: 0 } as never)).rejects.toMatchObject({ code: 'CONFLICT' }); // max_rounds 2 still applies
      clock.advance(4000); // 'slow' was opened 10 s ago
      expect(second.get('slow')?.state).toBe('ABORTED');
      await waitFor(() => events.length === 2, 'the timeout saved and fanned out');
      expect(events).toEqual(['counter', 'abort']);
      second.close();
      await store.close();
      store = await LevelKvStore.open(join(dir, 'state'));
      const third = await NegotiationService.open({ policies: new PolicyStore(), clock, store });
      expect(third.get('n1')!.events.map((e) => e['kind'])).toEqual(['open', 'policy', 'propose', 'evaluate', 'evaluate', 'counter']);
      expect(third.get('slow')).toMatchObject({ state: 'ABORTED' });
      third.close();
      // a step the store refuses is not taken: the error propagates and memory is as before
      let failing = false;
      const inner = store;
      const flaky: KvStore = { load: (p) => inner.load(p), close: () => inner.close(), commit: (ops, d) => (failing ? Promise.reject(new Error('disk full')) : inner.commit(ops, d)) };
      const fourth = await NegotiationService.open({ policies: new PolicyStore(), clock, store: flaky });
      await fourth.open(open('n3'));
      failing = true;
      await expect(fourth.propose({ negotiationId: 'n3', fromAgent: 'a', contentType: 'text/plain', payload: enc('x'), artifactType: 0 } as never)).rejects.toThrow('disk full');
      await expect(fourth.abort({ negotiationId: 'n3', reason: 'x' })).rejects.toThrow('disk full');
      expect(fourth.get('n3')).toMatchObject({ state: 'OPEN', rounds: 0 });
      expect(fourth.get('n3')!.events).toHaveLength(2);
      fourth.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SchedulerPolicyService and ActivityService persistence', () => {
  it('policy, profiles, preferences, evaluations, HITL actions and artifacts survive a restart (over gRPC)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const start = async () => {
      const store = await LevelKvStore.open(join(dir, 'state'));
      const running = await startNegotiation({ port: 0, store, room: { store } });
      const at = `127.0.0.1:${running.port}`;
      return { store, running, policy: createClient('schedulerPolicy', at), activity: createClient('activity', at), negotiation: createClient('negotiation', at) };
    };
    const stop = async (s: Awaited<ReturnType<typeof start>>) => {
      for (const c of [s.policy, s.activity, s.negotiation]) c.close();
      await s.running.stop();
      await s.store.close();
    };
    try {
      const one = await start();
      expect(await one.policy.setNegotiationPolicy({ policy: NegotiationPolicy.fromPartial({ maxRounds: 4, scoreThreshold: 0.75, totalTokenBudget: 5000n }) })).toEqual({ ok: true, reason: '' });
      const strict = NegotiationPolicy.fromPartial({ maxRounds: 1, scoreThreshold: 0.9 });
      expect(await one.policy.setPolicyProfiles({ profiles: [{ name: 'strict', policy: strict }] })).toEqual({ ok: true, reason: '' });
      await one.running.policies.setAgentPreferences('b', { maxRounds: 3, scoreThreshold: 0, diffTolerance: 0, roundTimeoutMs: 0n, tokenBudgetPerRound: 0n, totalTokenBudget: 0n, oscillationLimit: 0 });
      await one.negotiation.open({ negotiationId: 'n1', participants: ['a', 'b'] });
      expect(await one.policy.submitEvaluation({ negotiationId: 'n1', report: { fromAgent: 'a', deterministicScore: 0.5, llmConfidence: 1, notes: 'ok' } })).toEqual({ accepted: true, reason: '' });
      expect(await one.policy.hitlAction({ negotiationId: 'n1', action: 'defer', rationale: 'later' })).toEqual({ ok: true, reason: '' });
      const artifact = (version: string) => ({ negotiationId: 'n1', kind: 'contract', version, contentType: 'application/json', content: enc(`{"v":${version}}`), createdAt: '' });
      expect(await one.activity.appendArtifact({ artifact: artifact('1') })).toEqual({ ok: true, reason: '' });
      expect(await one.activity.appendArtifact({ artifact: artifact('2') })).toEqual({ ok: true, reason: '' });
      await stop(one);

      const two = await start(); // a new process over the same data directory
      try {
        expect((await two.policy.getNegotiationPolicy({})).policy).toMatchObject({ maxRounds: 4, totalTokenBudget: 5000n });
        expect((await two.policy.listPolicyProfiles({})).profiles).toEqual([{ name: 'strict', policy: expect.objectContaining({ maxRounds: 1 }) }]);
        await two.negotiation.open({ negotiationId: 'n2', participants: ['a', 'b'] }); // b's preference still tightens the base
        expect((await two.policy.getEffectivePolicy({ negotiationId: 'n2' })).effective?.policy).toMatchObject({ maxRounds: 3 });
        expect(two.running.policies.evaluationsOf('n1').map((e) => e.score)).toEqual([0.5]);
        const items = (await two.activity.listArtifacts({ negotiationId: 'n1', kind: 'contract' })).items;
        expect(items.map((a) => [a.version, new TextDecoder().decode(a.content)])).toEqual([['1', '{"v":1}'], ['2', '{"v":2}']]);
        expect(items[0]!.createdAt).toMatch(/Z$/);
        expect(await two.activity.appendArtifact({ artifact: artifact('2') })).toEqual({ ok: false, reason: 'duplicate_detected: n1/contract/2' });
        expect(await two.activity.appendArtifact({ artifact: artifact('3') })).toEqual({ ok: true, reason: '' });
      } finally {
        await stop(two);
      }
      const three = await start();
      expect((await three.activity.listArtifacts({ negotiationId: 'n1', kind: '' })).items.map((a) => a.version)).toEqual(['1', '2', '3']);
      await stop(three);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an artifact the store refuses is not recorded; the artifact limit refuses, never drops', async () => {
    const { ArtifactStore } = await import('../src/index');
    let failing = true;
    const inner = memoryKvStore();
    const flaky: KvStore = { load: (p) => inner.load(p), close: () => inner.close(), commit: (ops, d) => (failing ? Promise.reject(new Error('disk full')) : inner.commit(ops, d)) };
    const s = await ArtifactStore.open({ store: flaky, maxArtifacts: 1 });
    const artifact = { negotiationId: 'n', kind: 'k', version: '1', contentType: '', content: new Uint8Array(), createdAt: '' };
    await expect(s.appendArtifact({ artifact })).rejects.toThrow('disk full');
    expect((await s.listArtifacts({ negotiationId: 'n', kind: '' })).items).toEqual([]);
    failing = false;
    expect(await s.appendArtifact({ artifact })).toEqual({ ok: true, reason: '' });
    expect(await s.appendArtifact({ artifact: { ...artifact, version: '2' } })).toEqual({ ok: false, reason: 'capacity_exceeded: 1 artifacts stored' });
  });
});
