// SPDX-License-Identifier: Apache-2.0
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { rpcInventory } from '../src/index';

const protoDir = join(import.meta.dirname, '..', '..', '..', 'proto', 'sw4rm');

// Spec §1.4, transcribed independently of the generated code.
const SPEC: Record<string, { pkg: string; services: Record<string, string[]> }> = {
  'common.proto': { pkg: 'sw4rm.common', services: {} },
  'router.proto': { pkg: 'sw4rm.router', services: { RouterService: ['SendMessage', 'StreamIncoming', 'AckDelivery'] } },
  'registry.proto': { pkg: 'sw4rm.registry', services: { RegistryService: ['RegisterAgent', 'Heartbeat', 'DeregisterAgent'] } },
  'scheduler.proto': {
    pkg: 'sw4rm.scheduler',
    services: { SchedulerService: ['SubmitTask', 'RequestPreemption', 'ShutdownAgent', 'PollActivityBuffer', 'PurgeActivity'] },
  },
  'scheduler_policy.proto': {
    pkg: 'sw4rm.scheduler',
    services: {
      SchedulerPolicyService: ['SetNegotiationPolicy', 'GetNegotiationPolicy', 'SetPolicyProfiles', 'ListPolicyProfiles', 'GetEffectivePolicy', 'SubmitEvaluation', 'HitlAction'],
    },
  },
  'policy.proto': { pkg: 'sw4rm.policy', services: {} },
  'hitl.proto': { pkg: 'sw4rm.hitl', services: { HitlService: ['Decide'] } },
  'worktree.proto': { pkg: 'sw4rm.worktree', services: { WorktreeService: ['Bind', 'Unbind', 'RequestSwitch', 'ApproveSwitch', 'RejectSwitch', 'Status'] } },
  'tool.proto': { pkg: 'sw4rm.tool', services: { ToolService: ['Call', 'CallStream', 'Cancel'] } },
  'connector.proto': { pkg: 'sw4rm.connector', services: { ConnectorService: ['RegisterProvider', 'DescribeTools'] } },
  'negotiation.proto': { pkg: 'sw4rm.negotiation', services: { NegotiationService: ['Open', 'Propose', 'Counter', 'Evaluate', 'Decide', 'Abort'] } },
  'reasoning.proto': { pkg: 'sw4rm.reasoning', services: { ReasoningProxy: ['CheckParallelism', 'EvaluateDebate', 'Summarize'] } },
  'logging.proto': { pkg: 'sw4rm.logging', services: { LoggingService: ['Ingest'] } },
  'activity.proto': { pkg: 'sw4rm.activity', services: { ActivityService: ['AppendArtifact', 'ListArtifacts'] } },
  'negotiation_room.proto': {
    pkg: 'sw4rm.negotiation_room',
    services: { NegotiationRoomService: ['SubmitProposal', 'SubmitVote', 'GetVotes', 'GetDecision', 'WaitForDecision'] },
  },
  'handoff.proto': {
    pkg: 'sw4rm.handoff',
    services: { HandoffService: ['RequestHandoff', 'AcceptHandoff', 'RejectHandoff', 'GetPendingHandoffs', 'CompleteHandoff', 'CancelDelegation'] },
  },
  'workflow.proto': { pkg: 'sw4rm.workflow', services: { WorkflowService: ['CreateWorkflow', 'StartWorkflow', 'GetWorkflowState', 'ResumeWorkflow'] } },
};

const STREAMING = new Set(['/sw4rm.router.RouterService/StreamIncoming', '/sw4rm.tool.ToolService/CallStream']);

describe('SW4RM schema inventory (spec §1.4)', () => {
  it('has exactly the 17 files with the spec packages and services', () => {
    const files = readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort();
    expect(files).toEqual(Object.keys(SPEC).sort());
    for (const [file, spec] of Object.entries(SPEC)) {
      const text = readFileSync(join(protoDir, file), 'utf8');
      expect(/^package ([\w.]+);/m.exec(text)?.[1]).toBe(spec.pkg);
      expect(/^syntax = "proto3";/m.test(text)).toBe(true);
      const services = [...text.matchAll(/^service (\w+) \{/gm)].map((m) => m[1]);
      expect(services).toEqual(Object.keys(spec.services));
    }
  });

  it('generated code knows all 57 paths, in the spec order, with the two server streams', () => {
    const expected = Object.values(SPEC).flatMap(({ pkg, services }) =>
      Object.entries(services).flatMap(([svc, methods]) => methods.map((m) => `/${pkg}.${svc}/${m}`)),
    );
    expect(expected).toHaveLength(57);
    const inventory = rpcInventory();
    expect(inventory.map((r) => r.path).sort()).toEqual([...expected].sort());
    for (const rpc of inventory) {
      expect(rpc.requestStream).toBe(false);
      expect(rpc.responseStream).toBe(STREAMING.has(rpc.path));
      expect(rpc.path).toBe(`/${rpc.service}/${rpc.method}`);
    }
    expect(new Set(inventory.map((r) => r.service)).size).toBe(15);
  });
});
