// SPDX-License-Identifier: Apache-2.0
// HandoffService and WorkflowService over real gRPC, with the state machines, timeouts, bounds and restarts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { ManualClock } from '@ecps/core';
import { ErrorCode, createClient, durationFromMs } from '@ecps/sw4rm';
import { HandoffRequest, HandoffResponse, HandoffStatus, NodeStatus, TriggerType, WorkflowNode } from '@ecps/sw4rm/proto';
import type { WorkflowDefinition } from '@ecps/sw4rm/proto';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { waitFor } from '@ecps/testkit';
import { HandoffService, WorkflowEngine, startCoordination } from '../src/index';
import type { HandoffEvent } from '../src/index';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'coord-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
/** Closes a service and its store, then opens the store again (a restart). */
const reopen = async (s: HandoffService, store: LevelKvStore, path: string) => {
  s.close();
  await store.close();
  return LevelKvStore.open(path);
};

describe('HandoffService over gRPC (spec §3.12)', () => {
  it('runs the state machine, capability routing, OVERLOADED retries, REDIRECTs, completion and cancellation', async () => {
    const events: [string, HandoffEvent][] = [];
    const running = await startCoordination({
      port: 0,
      handoff: {
        agentsWithCapabilities: (caps) => (caps.every((c) => ['build', 'test'].includes(c)) ? ['builder-1', 'builder-2'] : []),
        notify: (agent, e) => void events.push([agent, e]),
      },
    });
    const h = createClient('handoff', `127.0.0.1:${running.port}`);
    try {
      await h.requestHandoff({ requestId: 'r1', fromAgent: 'planner', capabilitiesRequired: ['build'] });
      await expect(h.requestHandoff({ requestId: 'r1', fromAgent: 'planner', toAgent: 'x' })).rejects.toMatchObject({ grpcCode: status.ALREADY_EXISTS });
      await expect(h.requestHandoff({ requestId: 'r2', fromAgent: 'planner', capabilitiesRequired: ['fly'] })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION });
      await expect(h.requestHandoff({ requestId: 'deep', fromAgent: 'planner', toAgent: 'x', budget: { currentDepth: 3, maxDelegationDepth: 3 } })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION });
      await expect(h.requestHandoff({ requestId: 'late', fromAgent: 'planner', toAgent: 'x', budget: { deadlineEpochMs: 1 } })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION });
      expect((await h.getPendingHandoffs({ agentId: 'builder-2' })).pendingRequests.map((r) => r.requestId)).toEqual(['r1']);
      expect((await h.getPendingHandoffs({ agentId: 'stranger' })).pendingRequests).toEqual([]);
      expect(events.filter(([, e]) => e.kind === 'requested').map(([a]) => a)).toEqual(['builder-1', 'builder-2']);

      // rejection needs accepted=false and a code
      await expect(h.rejectHandoff({ requestId: 'r1', accepted: false, acceptingAgent: 'builder-1' })).rejects.toMatchObject({ grpcCode: status.INVALID_ARGUMENT });
      await expect(h.acceptHandoff({ requestId: 'r1', accepted: false, acceptingAgent: 'builder-1' })).rejects.toMatchObject({ grpcCode: status.INVALID_ARGUMENT });
      // OVERLOADED: offered again after retry_after_ms
      await h.rejectHandoff({ requestId: 'r1', accepted: false, acceptingAgent: 'builder-1', rejectionCode: ErrorCode.OVERLOADED, retryAfterMs: 60_000 });
      expect(running.handoff.get('r1')).toMatchObject({ status: HandoffStatus.PENDING, overloaded: 1 });
      expect((await h.getPendingHandoffs({ agentId: 'builder-2' })).pendingRequests).toEqual([]);
      await expect(h.acceptHandoff({ requestId: 'r1', accepted: true, acceptingAgent: 'builder-2' })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION });

      // REDIRECT bounded by max_redirects, then REJECTED
      await h.requestHandoff({ requestId: 'r3', fromAgent: 'planner', toAgent: 'a', delegationPolicy: { maxRedirects: 1 } });
      await h.rejectHandoff({ requestId: 'r3', accepted: false, acceptingAgent: 'a', rejectionCode: ErrorCode.REDIRECT, redirectToAgentId: 'b' });
      expect(running.handoff.get('r3')).toMatchObject({ status: HandoffStatus.PENDING, target: 'b', redirects: 1 });
      await h.rejectHandoff({ requestId: 'r3', accepted: false, acceptingAgent: 'b', rejectionCode: ErrorCode.REDIRECT, redirectToAgentId: 'c' });
      expect(running.handoff.get('r3')).toMatchObject({ status: HandoffStatus.REJECTED, message: 'REDIRECT' });

      // accept → complete; illegal completion is success=false
      await h.requestHandoff({ requestId: 'r4', fromAgent: 'planner', toAgent: 'worker', timeout: durationFromMs(60_000) });
      expect(await h.completeHandoff({ requestId: 'r4', status: HandoffStatus.COMPLETED })).toEqual({ success: false, message: 'illegal transition PENDING → COMPLETED' });
      await expect(h.acceptHandoff({ requestId: 'r4', accepted: true, acceptingAgent: 'intruder' })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION });
      await h.acceptHandoff({ requestId: 'r4', accepted: true, acceptingAgent: 'worker' });
      expect(await h.completeHandoff({ requestId: 'r4', status: HandoffStatus.COMPLETED })).toEqual({ success: true, message: '' });
      expect(await h.completeHandoff({ requestId: 'r4', status: HandoffStatus.COMPLETED })).toEqual({ success: false, message: 'illegal transition COMPLETED → COMPLETED' });
      expect(events).toContainEqual(['planner', { kind: 'completed', requestId: 'r4', by: 'worker' }]);

      // cancel: unknown not acknowledged; accepted work is told with at least 5 s of grace
      expect((await h.cancelDelegation({ correlationId: 'nope' })).acknowledged).toBe(false);
      await h.requestHandoff({ requestId: 'r5', fromAgent: 'planner', toAgent: 'worker' });
      await h.acceptHandoff({ requestId: 'r5', accepted: true, acceptingAgent: 'worker' });
      expect(await h.cancelDelegation({ correlationId: 'r5', reason: 'plan changed', gracePeriodMs: 100 })).toEqual({ acknowledged: true, message: 'cancelling; grace 5000 ms' });
      expect(events).toContainEqual(['worker', { kind: 'cancel', requestId: 'r5', reason: 'plan changed', graceMs: 5000 }]);
    } finally {
      h.close();
      await running.stop();
    }
  });

  it('PENDING expires when its timeout lapses, and state survives a restart', async () => {
    const clock = new ManualClock();
    const path = join(tmp(), 'state');
    let store = await LevelKvStore.open(path);
    const s1 = await HandoffService.open({ store, clock });
    await s1.requestHandoff({ requestId: 'short', fromAgent: 'p', toAgent: 'w', reason: '', contextSnapshot: new Uint8Array(), capabilitiesRequired: [], priority: 0, timeout: durationFromMs(1000), budget: undefined, delegationPolicy: undefined });
    await s1.requestHandoff({ requestId: 'long', fromAgent: 'p', toAgent: 'w', reason: '', contextSnapshot: new Uint8Array([1, 2]), capabilitiesRequired: [], priority: 0, timeout: durationFromMs(10_000), budget: undefined, delegationPolicy: undefined });
    s1.close();
    await store.close();
    store = await LevelKvStore.open(path);
    const s2 = await HandoffService.open({ store, clock });
    expect(s2.get('long')).toMatchObject({ status: HandoffStatus.PENDING });
    clock.advance(1000);
    await waitFor(() => s2.get('short')?.status === HandoffStatus.EXPIRED, 'expiry saved');
    expect(s2.get('short')).toMatchObject({ status: HandoffStatus.EXPIRED, message: 'timeout' });
    expect((await s2.getPendingHandoffs({ agentId: 'w' })).pendingRequests.map((r) => [r.requestId, [...r.contextSnapshot]])).toEqual([['long', [1, 2]]]);
    s2.close();
    await store.close();
  });

  it('a handoff carries its budget down the delegation chain and ends EXPIRED budget_exhausted at its deadline', async () => {
    const clock = new ManualClock();
    const told: string[] = [];
    const s = await HandoffService.open({ clock, notify: (agent, e) => void told.push(`${agent}:${e.kind}:${'reason' in e ? e.reason : ''}`) });
    const ask = (requestId: string, fromAgent: string, toAgent: string, budget?: Partial<HandoffRequest['budget']>) =>
      s.requestHandoff(HandoffRequest.fromPartial({ requestId, fromAgent, toAgent, ...(budget ? { budget } : {}) }));
    const t0 = clock.now();
    await ask('h1', 'planner', 'b', { maxDelegationDepth: 2, wallTimeRemainingMs: 10_000n, tokenBudgetRemaining: 500n });
    await s.acceptHandoff(HandoffResponse.fromPartial({ requestId: 'h1', accepted: true, acceptingAgent: 'b' }));
    clock.advance(4000);
    // b delegates with no budget of its own (or a bigger one): it still carries h1's
    await ask('h2', 'b', 'c', { tokenBudgetRemaining: 9_000n });
    const [carried] = (await s.getPendingHandoffs({ agentId: 'c' })).pendingRequests;
    expect(carried!.budget).toEqual({ currentDepth: 1, maxDelegationDepth: 2, deadlineEpochMs: BigInt(t0 + 10_000), wallTimeRemainingMs: 6000n, tokenBudgetRemaining: 500n });
    await s.acceptHandoff(HandoffResponse.fromPartial({ requestId: 'h2', accepted: true, acceptingAgent: 'c' }));
    await expect(ask('h3', 'c', 'd')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('delegation_depth_exceeded') });
    clock.advance(6000); // h1's deadline: both accepted handoffs are cancelled
    await waitFor(() => s.get('h1')?.status === HandoffStatus.EXPIRED && s.get('h2')?.status === HandoffStatus.EXPIRED, 'budget expiry');
    expect(s.get('h2')!.message).toBe('budget_exhausted: deadline passed');
    expect(told).toEqual(expect.arrayContaining(['b:cancel:budget_exhausted', 'c:cancel:budget_exhausted', 'planner:expired:budget_exhausted']));
    expect(await s.completeHandoff({ requestId: 'h2', status: HandoffStatus.COMPLETED })).toMatchObject({ success: false });
    await expect(ask('h4', 'b', 'c')).resolves.toEqual({}); // b holds no live handoff any more: nothing to carry
    s.close();
  });

  it('reported token usage shrinks the budget down and up the chain; a spent budget cancels the work with a typed error and survives a restart', async () => {
    const dir = tmp();
    const clock = new ManualClock();
    const told: string[] = [];
    let store = await LevelKvStore.open(join(dir, 'state'));
    const s = await HandoffService.open({ clock, store, notify: (agent, e) => void told.push(`${agent}:${e.kind}:${'reason' in e ? e.reason : ''}`) });
    const ask = (requestId: string, fromAgent: string, toAgent: string, tokenBudgetRemaining?: bigint) =>
      s.requestHandoff(HandoffRequest.fromPartial({ requestId, fromAgent, toAgent, ...(tokenBudgetRemaining ? { budget: { tokenBudgetRemaining } } : {}) }));
    const accept = (requestId: string, acceptingAgent: string) => s.acceptHandoff(HandoffResponse.fromPartial({ requestId, accepted: true, acceptingAgent }));
    await ask('p', 'planner', 'b', 1000n);
    await expect(s.reportUsage('p', 10)).rejects.toMatchObject({ code: 'CONFLICT' }); // still PENDING: no work to count
    await accept('p', 'b');
    expect(await s.reportUsage('p', 300)).toBe(700n);
    await expect(s.reportUsage('p', 1.5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.reportUsage('nope', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await ask('c1', 'b', 'c', 5000n); // carries what is left of p's budget
    expect((await s.getPendingHandoffs({ agentId: 'c' })).pendingRequests[0]!.budget!.tokenBudgetRemaining).toBe(700n);
    await accept('c1', 'c');
    expect(await s.reportUsage('c1', 200)).toBe(500n); // counted against c1 and p
    expect(s.get('p')).toMatchObject({ tokensUsed: 500 });
    store = await reopen(s, store, join(dir, 'state'));
    const s2 = await HandoffService.open({ clock, store, notify: (agent, e) => void told.push(`${agent}:${e.kind}:${'reason' in e ? e.reason : ''}`) });
    expect(await s2.reportUsage('p', 100)).toBe(400n); // b's own work, after a restart
    await expect(s2.reportUsage('c1', 450)).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED', message: 'budget_exhausted: token budget of p spent (450 tokens reported for c1)' });
    expect(s2.get('p')).toMatchObject({ status: HandoffStatus.EXPIRED, message: 'budget_exhausted: token budget spent' });
    expect(s2.get('c1')).toMatchObject({ status: HandoffStatus.EXPIRED, message: 'budget_exhausted: token budget spent (in p)' }); // delegated under p: cancelled with it
    expect(told).toEqual(expect.arrayContaining(['b:cancel:budget_exhausted', 'c:cancel:budget_exhausted', 'planner:expired:budget_exhausted', 'b:expired:budget_exhausted']));
    await expect(s2.reportUsage('p', 1)).rejects.toMatchObject({ code: 'CONFLICT' }); // further work is refused
    expect(await s2.completeHandoff({ requestId: 'p', status: HandoffStatus.COMPLETED })).toMatchObject({ success: false });
    s2.close();
    await store.close();
  });
});

const node = (nodeId: string, init: Partial<WorkflowNode> = {}) => WorkflowNode.fromPartial({ nodeId, ...init });
const definition = (workflowId: string, ...nodes: WorkflowNode[]): WorkflowDefinition => ({ workflowId, nodes: new Map(nodes.map((n) => [n.nodeId, n])), createdAt: undefined, metadata: new Map() });

describe('WorkflowService over gRPC (spec §3.13)', () => {
  it('validates, dispatches ready nodes with mapped input, advances on completion, skips after a failure', async () => {
    const dispatched: [string, Record<string, unknown>][] = [];
    const running = await startCoordination({ port: 0, workflow: { dispatcher: { dispatch: async (_wf, n, input) => void dispatched.push([n.nodeId, input]) } } });
    const w = createClient('workflow', `127.0.0.1:${running.port}`);
    try {
      const cyclic = definition('bad', node('a', { dependencies: ['b'] }), node('b', { dependencies: ['a'] }), node('root'));
      expect(await w.createWorkflow({ definition: cyclic })).toEqual({ workflowId: 'bad', success: false, error: 'workflow_cycle_detected: a,b' });
      const def = definition(
        'wf',
        node('fetch', { agentId: 'fetcher', inputMapping: new Map([['url', 'source']]), outputMapping: new Map([['body', 'page']]) }),
        node('review', { dependencies: ['fetch'], triggerType: TriggerType.MANUAL }),
        node('publish', { agentId: 'publisher', dependencies: ['review'], inputMapping: new Map([['text', 'page']]) }),
        node('notify', { agentId: 'notifier', dependencies: ['publish'] }),
      );
      expect(await w.createWorkflow({ definition: def })).toEqual({ workflowId: 'wf', success: true, error: '' });
      expect((await w.createWorkflow({ definition: def })).error).toBe('workflow_exists: wf');
      expect(await w.getWorkflowState({ workflowId: 'nope' })).toEqual({ state: undefined, success: false, error: 'workflow_not_found' });
      expect((await w.startWorkflow({ workflowId: 'wf', workflowData: '[1]' })).error).toMatch(/^validation_error/);
      const started = await w.startWorkflow({ workflowId: 'wf', workflowData: '{"source":"https://example.invalid/a"}' });
      expect(started.success).toBe(true);
      expect(started.state!.nodeStates.get('fetch')!.status).toBe(NodeStatus.RUNNING);
      expect(dispatched).toEqual([['fetch', { url: 'https://example.invalid/a' }]]);
      await running.workflow.completeNode('wf', 'fetch', '{"body":"<h1>hi</h1>"}');
      let st = (await w.getWorkflowState({ workflowId: 'wf' })).state!;
      expect(st.nodeStates.get('review')!.status).toBe(NodeStatus.READY); // MANUAL: waits for a person
      expect(JSON.parse(st.workflowData)).toEqual({ source: 'https://example.invalid/a', page: '<h1>hi</h1>' });
      expect((await w.resumeWorkflow({ workflowId: 'wf', nodeId: 'publish' })).error).toBe('node_not_resumable: publish is PENDING');
      const resumed = await w.resumeWorkflow({ workflowId: 'wf', nodeId: 'review', workflowData: '{"approved":true}' });
      expect(resumed.state!.nodeStates.get('publish')!.status).toBe(NodeStatus.RUNNING);
      expect(dispatched[1]).toEqual(['publish', { text: '<h1>hi</h1>' }]);
      await running.workflow.failNode('wf', 'publish', 'site down');
      st = (await w.getWorkflowState({ workflowId: 'wf' })).state!;
      expect([...st.nodeStates.values()].map((n) => [n.nodeId, NodeStatus[n.status]])).toEqual([
        ['fetch', 'COMPLETED'],
        ['review', 'COMPLETED'],
        ['publish', 'FAILED'],
        ['notify', 'SKIPPED'],
      ]);
      expect(st.completedAt).toBeDefined();
    } finally {
      w.close();
      await running.stop();
    }
  });

  it('persists definitions and states (map order kept) and dispatches RUNNING nodes again after a restart', async () => {
    const path = join(tmp(), 'state');
    let store = await LevelKvStore.open(path);
    const dispatched: string[] = [];
    const dispatcher = { dispatch: async (_wf: string, n: WorkflowNode) => void dispatched.push(n.nodeId) };
    const e1 = await WorkflowEngine.open({ store, dispatcher });
    // integer-like node ids: a plain object would reorder them, the protobuf map keeps their order
    await e1.createWorkflow({ definition: definition('wf', node('10', { agentId: 'x' }), node('2', { agentId: 'y', dependencies: ['10'] })) });
    await e1.startWorkflow({ workflowId: 'wf', workflowData: '', metadata: new Map() });
    await store.close();
    store = await LevelKvStore.open(path);
    const e2 = await WorkflowEngine.open({ store, dispatcher });
    expect(dispatched).toEqual(['10', '10']);
    const st = (await e2.getWorkflowState({ workflowId: 'wf' })).state!;
    expect([...st.nodeStates.keys()]).toEqual(['10', '2']);
    await e2.completeNode('wf', '10', '{}');
    expect(dispatched).toEqual(['10', '10', '2']);
    await store.close();
  });
});
