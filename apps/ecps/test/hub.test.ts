// SPDX-License-Identifier: Apache-2.0
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client, Metadata, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { waitFor } from '@ecps/testkit';
import { AgentState, HEALTH_SERVICE, HEALTH_STATUS, MessageType, SW4RM_SERVICES, buildEnvelope, createClient } from '@ecps/sw4rm';
import type { ClientOf } from '@ecps/sw4rm';
import { HitlReasonType, NodeStatus, RegisterAgentRequest, StreamItem, WorkflowNode } from '@ecps/sw4rm/proto';
import { parseControl, reportEnvelope } from '@ecps/sw4rm-scheduler';
import { hitlDecisionEnvelope, parseHitlInvocation } from '@ecps/sw4rm-hitl';
import { JwtKeyRing, issueToken } from '@ecps/trust';
import { hubJwtVerification, startHub } from '../src/hub/start-hub';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hub-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function health(address: string, service: string): Promise<number> {
  const c = new Client(address, credentials.createInsecure());
  const def = HEALTH_SERVICE['Check']!;
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { service }, { deadline: Date.now() + 3000 }, (e, v) => {
      c.close();
      if (e) reject(e);
      else resolve((v as { status: number }).status);
    }),
  );
}

/** Calls one RPC (as SW4RM's reference clients do: plain grpc-js, no credentials unless given) and returns the status code it ends with (0 = OK). */
function probe(address: string, def: { path: string; responseStream: boolean; requestSerialize(v: never): Buffer; responseDeserialize(b: Buffer): unknown }, request: unknown, metadata = new Metadata()): Promise<number> {
  const c = new Client(address, credentials.createInsecure());
  const deadline = Date.now() + 1500;
  return new Promise((resolve) => {
    const done = (code: number) => {
      c.close();
      resolve(code);
    };
    if (def.responseStream) {
      const s = c.makeServerStreamRequest(def.path, def.requestSerialize as (v: unknown) => Buffer, def.responseDeserialize, request, metadata, { deadline });
      s.on('error', (e: ServiceError) => done(e.code));
      s.on('data', () => {
        s.cancel();
      });
      s.on('end', () => done(0));
    } else c.makeUnaryRequest(def.path, def.requestSerialize as (v: unknown) => Buffer, def.responseDeserialize, request, metadata, { deadline }, (e) => done(e ? e.code : 0));
  });
}

class Agent {
  readonly items: StreamItem[] = [];
  readonly call;
  constructor(router: ClientOf<'router'>, readonly id: string) {
    this.call = router.streamIncoming({ agentId: id }, { timeoutMs: 60_000 });
    this.call.on('data', (i: StreamItem) => {
      this.items.push(i);
      void router.ackDelivery({ agentId: id, seq: i.seq, messageId: i.msg!.messageId }).catch(() => undefined);
    });
    this.call.on('error', () => undefined);
  }
  controls() {
    return this.items.map((i) => parseControl(i.msg!, this.id)).filter((c) => c !== undefined);
  }
}

describe('ecps hub', () => {
  it('serves all 15 services: health for each, and none of the 57 RPCs answers UNIMPLEMENTED', async () => {
    const hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir: tmp(), drainGraceMs: 0, env: {} });
    try {
      const { router, registry, scheduler } = hub.ports;
      expect(new Set([router, registry, scheduler]).size).toBe(3);
      const portOf = (name: string) => (name === 'router' ? router : name === 'registry' ? registry : scheduler);
      let rpcs = 0;
      const unimplemented: string[] = [];
      for (const [name, { grpc, generic }] of Object.entries(SW4RM_SERVICES)) {
        const address = `127.0.0.1:${portOf(name)}`;
        expect([name, await health(address, generic.fullName)]).toEqual([name, HEALTH_STATUS.SERVING]);
        for (const [key, def] of Object.entries(grpc)) {
          const request = (generic.methods as unknown as Record<string, { requestType: { create(): unknown } }>)[key]!.requestType.create();
          const code = await probe(address, def as never, request);
          rpcs++;
          if (code === status.UNIMPLEMENTED) unimplemented.push(def.path);
        }
      }
      expect(rpcs).toBe(57);
      expect(unimplemented).toEqual([]);
    } finally {
      await hub.stop();
    }
  }, 60_000);

  it('with --jwt-* every service refuses callers without a valid token (issuer and audience checked)', async () => {
    const dir = tmp();
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'jwt.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    expect(() => hubJwtVerification({ keyFile: join(dir, 'jwt.pub'), kid: 'k1', issuer: 'ops', audience: '' })).toThrow(/issuer and the expected audience/);
    const jwt = hubJwtVerification({ keyFile: join(dir, 'jwt.pub'), kid: 'k1', issuer: 'ops', audience: 'sw4rm-hub' });
    const hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir: dir, drainGraceMs: 0, env: {}, auth: { jwt } });
    const ring = new JwtKeyRing({ kid: 'k1', alg: 'EdDSA', key: privateKey });
    const bearer = (token: string) => {
      const m = new Metadata();
      m.set('authorization', `Bearer ${token}`);
      return m;
    };
    const agent = { id: 'agent-a', kind: 'service' as const, roles: [] };
    const good = bearer(await issueToken(agent, { ring, issuer: 'ops', audience: 'sw4rm-hub' }));
    const otherAudience = bearer(await issueToken(agent, { ring, issuer: 'ops', audience: 'elsewhere' }));
    const otherIssuer = bearer(await issueToken(agent, { ring, issuer: 'someone', audience: 'sw4rm-hub' }));
    try {
      const { router, registry, scheduler } = hub.ports;
      const portOf = (name: string) => (name === 'router' ? router : name === 'registry' ? registry : scheduler);
      const admitted: string[] = [];
      for (const [name, { grpc, generic }] of Object.entries(SW4RM_SERVICES)) {
        const address = `127.0.0.1:${portOf(name)}`;
        expect(await health(address, generic.fullName)).toBe(HEALTH_STATUS.SERVING); // probes stay open
        for (const [key, def] of Object.entries(grpc)) {
          const request = (generic.methods as unknown as Record<string, { requestType: { create(): unknown } }>)[key]!.requestType.create();
          if ((await probe(address, def as never, request)) !== status.UNAUTHENTICATED) admitted.push(def.path);
        }
      }
      expect(admitted).toEqual([]);
      const register = Object.values(SW4RM_SERVICES.registry.grpc).find((d) => d.path.endsWith('/RegisterAgent'))!;
      const req = RegisterAgentRequest.fromPartial({ agent: { agentId: 'agent-a' } });
      expect(await probe(`127.0.0.1:${registry}`, register as never, req, otherAudience)).toBe(status.UNAUTHENTICATED);
      expect(await probe(`127.0.0.1:${registry}`, register as never, req, otherIssuer)).toBe(status.UNAUTHENTICATED);
      expect(await probe(`127.0.0.1:${registry}`, register as never, RegisterAgentRequest.fromPartial({ agent: { agentId: 'agent-b' } }), good)).toBe(status.PERMISSION_DENIED);
      expect(await probe(`127.0.0.1:${registry}`, register as never, req, good)).toBe(status.OK);
      expect(hub.registry.registry.get('agent-a')).toBeDefined();
    } finally {
      await hub.stop();
    }
  }, 60_000);

  it('HITL questions reach reviewers as HITL_INVOCATION envelopes; a reviewer answers with a decision envelope', async () => {
    const hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir: tmp(), drainGraceMs: 0, env: {}, hitl: { reviewers: ['reviewer'] } });
    const rc = createClient('router', `127.0.0.1:${hub.ports.router}`);
    const hitl = createClient('hitl', `127.0.0.1:${hub.ports.scheduler}`, { timeoutMs: 30_000 });
    const reviewer = new Agent(rc, 'reviewer');
    const bystander = new Agent(rc, 'bystander');
    try {
      await waitFor(() => ['reviewer', 'bystander'].every((a) => hub.router.router.knownAgents().includes(a)), 'agents streaming');
      const decision = hitl.decide({ reasonType: HitlReasonType.CONFLICT, context: new TextEncoder().encode('two writers on src/'), proposedActions: ['deny', 'approve'], priority: 0 });
      await waitFor(() => reviewer.items.some((i) => i.msg!.messageType === MessageType.HITL_INVOCATION), 'the question at the reviewer');
      const question = parseHitlInvocation(reviewer.items.find((i) => i.msg!.messageType === MessageType.HITL_INVOCATION)!.msg!)!;
      expect(question).toMatchObject({ reason_type: 'CONFLICT', context: 'two writers on src/', proposed_actions: ['deny', 'approve'] });
      // someone who is not a reviewer cannot answer; the reviewer can
      await rc.sendMessage({ msg: hitlDecisionEnvelope('bystander', question.invocation_id, 'approve') });
      await rc.sendMessage({ msg: hitlDecisionEnvelope('reviewer', question.invocation_id, 'deny', { rationale: 'serialise them' }) });
      expect(await decision).toMatchObject({ action: 'deny', rationale: 'serialise them' });
      expect(bystander.items.filter((i) => parseHitlInvocation(i.msg!))).toEqual([]); // questions go to reviewers only
    } finally {
      reviewer.call.cancel();
      bystander.call.cancel();
      rc.close();
      hitl.close();
      await hub.stop();
    }
  }, 60_000);

  it('refuses a non-loopback host without TLS unless --insecure', async () => {
    await expect(startHub({ host: '0.0.0.0', dataDir: tmp(), env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(startHub({ host: '192.0.2.1', dataDir: tmp(), env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('sends CONTROL only to its addressee, runs workflow nodes through the scheduler, and keeps state across a restart', async () => {
    const dataDir = tmp();
    let hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir, drainGraceMs: 0, env: {} });
    const rc = createClient('router', `127.0.0.1:${hub.ports.router}`);
    const reg = createClient('registry', `127.0.0.1:${hub.ports.registry}`);
    const sched = createClient('scheduler', `127.0.0.1:${hub.ports.scheduler}`);
    const wf = createClient('workflow', `127.0.0.1:${hub.ports.scheduler}`);
    const x = new Agent(rc, 'agent-x');
    const y = new Agent(rc, 'agent-y');
    try {
      await waitFor(() => hub.router.router.knownAgents().includes('agent-y') && hub.router.router.knownAgents().includes('agent-x'), 'agents streaming');
      expect((await reg.registerAgent({ agent: { agentId: 'agent-x', capabilities: ['build'] } })).accepted).toBe(true);
      expect(await reg.heartbeat({ agentId: 'agent-x', state: AgentState.RUNNABLE })).toEqual({ ok: true });
      expect(await sched.submitTask({ agentId: 'agent-x', taskId: 't1', priority: 0 })).toEqual({ accepted: true, reason: '' });
      await waitFor(() => x.controls().length === 1, 'RUN for agent-x');
      // a sentinel behind the CONTROL row: once agent-y has it, a CONTROL for y would have arrived first
      const sentinel = buildEnvelope({ producerId: 'agent-x', messageType: MessageType.DATA, payload: '{}', contentType: 'application/json' });
      await rc.sendMessage({ msg: sentinel });
      await waitFor(() => y.items.some((i) => i.msg!.messageId === sentinel.messageId), 'sentinel at agent-y');
      expect(y.items.filter((i) => i.msg!.messageType === MessageType.CONTROL)).toEqual([]);
      expect(x.controls()[0]).toMatchObject({ op: 'RUN', taskId: 't1' });

      // a workflow node becomes a scheduler task for its agent; the agent's report completes it
      const node = WorkflowNode.fromPartial({ nodeId: 'n1', agentId: 'agent-y', outputMapping: new Map([['result', 'answer']]) });
      expect((await wf.createWorkflow({ definition: { workflowId: 'w1', nodes: new Map([['n1', node]]) } })).success).toBe(true);
      expect((await wf.startWorkflow({ workflowId: 'w1', workflowData: '{}' })).success).toBe(true);
      await waitFor(() => y.controls().length === 1, 'RUN for the workflow node');
      expect(y.controls()[0]).toMatchObject({ op: 'RUN', taskId: 'wf:w1:n1' });
      await rc.sendMessage({ msg: reportEnvelope('agent-y', 'wf:w1:n1', 'COMPLETED', '', { output: '{"result":42}' }) });
      await waitFor(() => hub.coordination.workflow !== undefined && hub.scheduler.scheduler.task('agent-y', 'wf:w1:n1')?.state === 'COMPLETED', 'report processed');
      let state = (await wf.getWorkflowState({ workflowId: 'w1' })).state!;
      for (let i = 0; i < 100 && state.nodeStates.get('n1')!.status !== NodeStatus.COMPLETED; i++) {
        await new Promise((r) => setTimeout(r, 20));
        state = (await wf.getWorkflowState({ workflowId: 'w1' })).state!;
      }
      expect(state.nodeStates.get('n1')!.status).toBe(NodeStatus.COMPLETED);
      expect(JSON.parse(state.workflowData)).toEqual({ answer: 42 });
    } finally {
      x.call.cancel();
      y.call.cancel();
      for (const c of [rc, reg, sched, wf]) c.close();
      await hub.stop();
    }
    hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir, drainGraceMs: 0, env: {} });
    try {
      expect(hub.registry.registry.get('agent-x')).toMatchObject({ state: AgentState.RUNNABLE, descriptor: { capabilities: ['build'] } });
      expect(hub.scheduler.scheduler.task('agent-x', 't1')).toMatchObject({ state: 'RUNNING' });
      expect(hub.router.router.knownAgents()).toEqual(['agent-x', 'agent-y', 'scheduler']);
      expect((await hub.coordination.workflow.getWorkflowState({ workflowId: 'w1' })).state!.completedAt).toBeDefined();
    } finally {
      await hub.stop();
    }
  }, 60_000);

  it('parallel tasks by ReasoningProxy, token usage from report envelopes cancels over-budget work, policies and artifacts survive a restart', async () => {
    const dataDir = tmp();
    let hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir, drainGraceMs: 0, env: {} });
    const at = `127.0.0.1:${hub.ports.scheduler}`;
    const rc = createClient('router', `127.0.0.1:${hub.ports.router}`);
    const reg = createClient('registry', `127.0.0.1:${hub.ports.registry}`);
    const sched = createClient('scheduler', at);
    const wf = createClient('workflow', at);
    const policy = createClient('schedulerPolicy', at);
    const activity = createClient('activity', at);
    const w = new Agent(rc, 'agent-w');
    try {
      await waitFor(() => hub.router.router.knownAgents().includes('agent-w'), 'agent streaming');
      expect((await reg.registerAgent({ agent: { agentId: 'agent-w', maxConcurrentDelegations: 2 } })).accepted).toBe(true);
      // two slots: disjoint paths run together, a path inside a running one waits (the local rule would have let it run)
      const submit = (taskId: string, scope: string) => sched.submitTask({ agentId: 'agent-w', taskId, priority: 0, scope });
      await submit('ui', 'repo:app src/ui/**');
      await submit('db', 'repo:app src/db/**');
      await submit('schema', 'repo:app src/ui/theme.css');
      await waitFor(() => w.controls().length === 2, 'two RUNs');
      await new Promise((r) => setTimeout(r, 200));
      expect(w.controls().map((c) => c.taskId)).toEqual(['ui', 'db']);
      expect(hub.scheduler.scheduler.task('agent-w', 'schema')?.state).toBe('QUEUED');

      // a workflow node with a token budget: usage reports count against it, the one that spends it cancels the task
      const node = WorkflowNode.fromPartial({ nodeId: 'n1', agentId: 'agent-w', metadata: new Map([['token_budget', '100'], ['scope', 'repo:app docs/**']]) });
      expect((await wf.createWorkflow({ definition: { workflowId: 'wb', nodes: new Map([['n1', node]]) } })).success).toBe(true);
      expect((await wf.startWorkflow({ workflowId: 'wb', workflowData: '{}' })).success).toBe(true);
      await rc.sendMessage({ msg: reportEnvelope('agent-w', 'ui', 'COMPLETED') });
      await rc.sendMessage({ msg: reportEnvelope('agent-w', 'db', 'COMPLETED') });
      await waitFor(() => w.controls().some((c) => c.taskId === 'wf:wb:n1'), 'RUN for the budgeted node');
      expect(w.controls().filter((c) => c.op === 'RUN').map((c) => c.taskId)).toEqual(['ui', 'db', 'schema', 'wf:wb:n1']);
      await rc.sendMessage({ msg: reportEnvelope('agent-w', 'wf:wb:n1', 'RUNNING', '', { tokensUsed: 60 }) });
      await waitFor(() => hub.scheduler.scheduler.task('agent-w', 'wf:wb:n1')?.tokensUsed === 60, 'usage counted');
      await rc.sendMessage({ msg: reportEnvelope('agent-w', 'wf:wb:n1', 'RUNNING', '', { tokensUsed: 50 }) });
      await waitFor(() => w.controls().some((c) => c.op === 'TERMINATE' && c.taskId === 'wf:wb:n1'), 'TERMINATE budget_exhausted');
      expect(w.controls().find((c) => c.op === 'TERMINATE')).toMatchObject({ reason: 'budget_exhausted' });
      await rc.sendMessage({ msg: reportEnvelope('agent-w', 'wf:wb:n1', 'COMPLETED', '', { output: '{}' }) });
      await waitFor(() => hub.scheduler.scheduler.task('agent-w', 'wf:wb:n1')?.state === 'FAILED', 'node task failed');
      expect(hub.scheduler.scheduler.task('agent-w', 'wf:wb:n1')).toMatchObject({ failReason: 'budget_exhausted' });

      expect((await policy.setNegotiationPolicy({ policy: { maxRounds: 7, scoreThreshold: 0.8 } })).ok).toBe(true);
      expect((await activity.appendArtifact({ artifact: { negotiationId: 'n', kind: 'plan', version: '1', content: new TextEncoder().encode('v1') } })).ok).toBe(true);
    } finally {
      w.call.cancel();
      for (const c of [rc, reg, sched, wf, policy, activity]) c.close();
      await hub.stop();
    }
    hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dataDir, drainGraceMs: 0, env: {} });
    const policy2 = createClient('schedulerPolicy', `127.0.0.1:${hub.ports.scheduler}`);
    const activity2 = createClient('activity', `127.0.0.1:${hub.ports.scheduler}`);
    try {
      expect((await policy2.getNegotiationPolicy({})).policy).toMatchObject({ maxRounds: 7 });
      expect((await activity2.listArtifacts({ negotiationId: 'n', kind: '' })).items.map((a) => a.version)).toEqual(['1']);
    } finally {
      policy2.close();
      activity2.close();
      await hub.stop();
    }
  }, 60_000);
});
