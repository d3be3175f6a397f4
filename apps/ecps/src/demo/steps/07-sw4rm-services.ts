// SPDX-License-Identifier: Apache-2.0
// SW4RM's coordination services on one hub: a planner hands work to whoever can build (capability routing), a
// two-node workflow runs through the scheduler, the builder binds a real git worktree and runs a local tool in it
// (network off, budgets on), a privileged tool call waits for a person (answered the way `ecps hitl answer`
// does), the reasoning proxy checks two scopes and summarises, and every step is logged to the append-only file.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, durationFromMs } from '@ecps/sw4rm';
import { HandoffStatus, NodeStatus, WorkflowNode } from '@ecps/sw4rm/proto';
import type { StreamItem } from '@ecps/sw4rm/proto';
import { answerHitl, listPendingHitl } from '@ecps/sw4rm-hitl';
import { parseControl, reportEnvelope } from '@ecps/sw4rm-scheduler';
import { startHub } from '../../hub/start-hub';
import type { DemoStep } from '../step';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const step: DemoStep = {
  title: 'SW4RM services: handoff, workflow, worktrees, tools, HITL, reasoning and logging on one hub',
  async run(ctx) {
    const dir = ctx.tempDir('sw4rm-services');
    const repo = join(dir, 'repo');
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    execFileSync('git', ['-C', repo, '-c', 'user.email=demo@example.invalid', '-c', 'user.name=demo', 'commit', '-q', '--allow-empty', '-m', 'init']);
    const hub = await startHub({
      routerPort: 0,
      registryPort: 0,
      schedulerPort: 0,
      dataDir: join(dir, 'hub'),
      drainGraceMs: 0,
      env: {},
      repositories: { app: repo },
      hitl: { pollIntervalMs: 50 },
      tools: [
        {
          descriptor: { toolName: 'count-files', needsWorktree: true, inputSchema: '{"type":"object","properties":{"glob":{"type":"string"}}}', outputSchema: '{"type":"object","required":["files"]}' },
          command: [process.execPath, '-e', "process.stdout.write(JSON.stringify({files:require('fs').readdirSync('.').length,cwd:process.cwd()}))"],
        },
        { descriptor: { toolName: 'deploy' }, command: [process.execPath, '-e', "process.stdout.write('{\"deployed\":true}')"] },
      ],
    });
    const at = `127.0.0.1:${hub.ports.scheduler}`;
    const router = createClient('router', `127.0.0.1:${hub.ports.router}`);
    const registry = createClient('registry', `127.0.0.1:${hub.ports.registry}`);
    const handoff = createClient('handoff', at);
    const workflow = createClient('workflow', at);
    const worktree = createClient('worktree', at);
    const tool = createClient('tool', at);
    const reasoning = createClient('reasoning', at);
    const logging = createClient('logging', at);
    const builderInbox = router.streamIncoming({ agentId: 'builder' }, { timeoutMs: 120_000 });
    try {
      ctx.log(`hub        all 15 services: router :${hub.ports.router}, registry :${hub.ports.registry}, the rest :${hub.ports.scheduler}`);
      await registry.registerAgent({ agent: { agentId: 'builder', capabilities: ['build', 'test'] } });
      builderInbox.on('error', () => undefined);
      builderInbox.on('data', (item: StreamItem) => {
        void router.ackDelivery({ agentId: 'builder', seq: item.seq, messageId: item.msg!.messageId }).catch(() => undefined);
        const run = parseControl(item.msg!, 'builder');
        if (run?.op !== 'RUN' || !run.taskId) return;
        ctx.log(`builder    ← RUN ${run.taskId} ${dec(run.params ?? new Uint8Array())}`);
        void router.sendMessage({ msg: reportEnvelope('builder', run.taskId, 'COMPLETED', '', { output: JSON.stringify({ artifact: `${run.taskId.split(':').at(-1)}.tgz` }) }) });
      });

      await handoff.requestHandoff({ requestId: 'h1', fromAgent: 'planner', capabilitiesRequired: ['build'], reason: 'compile the app', timeout: durationFromMs(60_000) });
      const offered = await handoff.getPendingHandoffs({ agentId: 'builder' });
      ctx.log(`handoff    planner asks for "build"; offered to builder: ${offered.pendingRequests.map((r) => r.requestId).join(', ')}`);
      await handoff.acceptHandoff({ requestId: 'h1', accepted: true, acceptingAgent: 'builder' });
      ctx.log(`handoff    builder accepts; status ${HandoffStatus[hub.coordination.handoff.get('h1')!.status]}`);

      const bound = await worktree.bind({ agentId: 'builder', repoId: 'app', worktreeId: 'feature-x' });
      ctx.log(`worktree   builder binds app/feature-x (git worktree add): ok=${bound.ok}, state ${(await worktree.status({ agentId: 'builder' })).state}`);
      const counted = await tool.call({ callId: 'c1', toolName: 'count-files', args: enc({}) }, { metadata: { 'sw4rm-agent-id': 'builder' } });
      ctx.log(`tools      count-files ran in the worktree, network off: ${dec(counted.data)}`);

      const nodes = new Map([
        ['compile', WorkflowNode.fromPartial({ nodeId: 'compile', agentId: 'builder', outputMapping: new Map([['artifact', 'artifact']]) })],
        ['package', WorkflowNode.fromPartial({ nodeId: 'package', agentId: 'builder', dependencies: ['compile'], inputMapping: new Map([['from', 'artifact']]) })],
      ]);
      await workflow.createWorkflow({ definition: { workflowId: 'release', nodes } });
      await workflow.startWorkflow({ workflowId: 'release', workflowData: '{}' });
      for (let i = 0; i < 200; i++) {
        const st = (await workflow.getWorkflowState({ workflowId: 'release' })).state!;
        if (st.completedAt) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const st = (await workflow.getWorkflowState({ workflowId: 'release' })).state!;
      if (!st.completedAt) throw new Error('SW4RM demo: the workflow did not finish');
      ctx.held('workflow', `release: ${[...st.nodeStates.values()].map((n) => `${n.nodeId} ${NodeStatus[n.status]}`).join(', ')}; data ${st.workflowData}`);
      await handoff.completeHandoff({ requestId: 'h1', status: HandoffStatus.COMPLETED });

      const deploying = tool.call({ callId: 'c2', toolName: 'deploy', policy: { privilegeLevel: 'PRIVILEGED' } }, { timeoutMs: 30_000 });
      while (!listPendingHitl(join(dir, 'hub', 'hitl')).length) await new Promise((r) => setTimeout(r, 20));
      const question = listPendingHitl(join(dir, 'hub', 'hitl'))[0]!;
      ctx.log(`hitl       a person is asked: ${question.reason_type} ${question.context}`);
      answerHitl(join(dir, 'hub', 'hitl'), question.id, 'approve', { rationale: 'release window open', by: 'demo-operator' });
      const deployed = dec((await deploying).data);
      if (deployed !== '{"deployed":true}') throw new Error(`SW4RM demo: the approved deploy answered ${deployed}`);
      ctx.held('hitl', `answered approve (ecps hitl answer ${question.id.slice(0, 8)}… approve); deploy says ${deployed}`);

      const parallel = await reasoning.checkParallelism({ scopeA: 'repo:app src/ui/**', scopeB: 'repo:app src/db/**' });
      const clash = await reasoning.checkParallelism({ scopeA: 'repo:app src/**', scopeB: 'repo:app src/db/schema.sql' });
      ctx.log(`reasoning  ui vs db in parallel: ${parallel.confidenceScore.toFixed(2)}; src vs schema.sql: ${clash.confidenceScore.toFixed(2)} (${clash.notes})`);
      const summary = await reasoning.summarize({ sessionId: 'release', maxTokens: 12, segments: [{ kind: 'log', content: 'The release compiled. The package was built from the compiled artifact. Lunch was late.', seq: 1, at: '' }] });
      ctx.log(`reasoning  summary (${summary.tokens} tokens, ${summary.model}): ${summary.summary}`);

      for (const [type, level] of [['release.done', 'INFO'], ['deploy.approved', 'WARN']] as const) {
        await logging.ingest({ agentId: 'planner', eventType: type, level, detailsJson: JSON.stringify({ workflow: 'release' }) });
      }
      const lines = readFileSync(join(dir, 'hub', 'sw4rm-events.jsonl'), 'utf8').trim().split('\n');
      ctx.log(`logging    ${lines.length} events appended (fsync'd) to sw4rm-events.jsonl; last: ${lines.at(-1)}`);
    } finally {
      builderInbox.cancel();
      for (const c of [router, registry, handoff, workflow, worktree, tool, reasoning, logging]) c.close();
      await hub.stop();
    }
  },
};

export default step;
