// SPDX-License-Identifier: Apache-2.0
// The 15 services: grpc-js definitions (paths, codecs) and the generic definitions (message types), by short name.
import { ActivityServiceDefinition, ActivityServiceService } from './gen/activity';
import { ConnectorServiceDefinition, ConnectorServiceService } from './gen/connector';
import { HandoffServiceDefinition, HandoffServiceService } from './gen/handoff';
import { HitlServiceDefinition, HitlServiceService } from './gen/hitl';
import { LoggingServiceDefinition, LoggingServiceService } from './gen/logging';
import { NegotiationServiceDefinition, NegotiationServiceService } from './gen/negotiation';
import { NegotiationRoomServiceDefinition, NegotiationRoomServiceService } from './gen/negotiation_room';
import { ReasoningProxyDefinition, ReasoningProxyService } from './gen/reasoning';
import { RegistryServiceDefinition, RegistryServiceService } from './gen/registry';
import { RouterServiceDefinition, RouterServiceService } from './gen/router';
import { SchedulerServiceDefinition, SchedulerServiceService } from './gen/scheduler';
import { SchedulerPolicyServiceDefinition, SchedulerPolicyServiceService } from './gen/scheduler_policy';
import { ToolServiceDefinition, ToolServiceService } from './gen/tool';
import { WorkflowServiceDefinition, WorkflowServiceService } from './gen/workflow';
import { WorktreeServiceDefinition, WorktreeServiceService } from './gen/worktree';

/** Every service: `grpc` is the grpc-js ServiceDefinition, `generic` carries the message types. */
export const SW4RM_SERVICES = {
  router: { grpc: RouterServiceService, generic: RouterServiceDefinition },
  registry: { grpc: RegistryServiceService, generic: RegistryServiceDefinition },
  scheduler: { grpc: SchedulerServiceService, generic: SchedulerServiceDefinition },
  schedulerPolicy: { grpc: SchedulerPolicyServiceService, generic: SchedulerPolicyServiceDefinition },
  hitl: { grpc: HitlServiceService, generic: HitlServiceDefinition },
  worktree: { grpc: WorktreeServiceService, generic: WorktreeServiceDefinition },
  tool: { grpc: ToolServiceService, generic: ToolServiceDefinition },
  connector: { grpc: ConnectorServiceService, generic: ConnectorServiceDefinition },
  negotiation: { grpc: NegotiationServiceService, generic: NegotiationServiceDefinition },
  reasoning: { grpc: ReasoningProxyService, generic: ReasoningProxyDefinition },
  logging: { grpc: LoggingServiceService, generic: LoggingServiceDefinition },
  activity: { grpc: ActivityServiceService, generic: ActivityServiceDefinition },
  negotiationRoom: { grpc: NegotiationRoomServiceService, generic: NegotiationRoomServiceDefinition },
  handoff: { grpc: HandoffServiceService, generic: HandoffServiceDefinition },
  workflow: { grpc: WorkflowServiceService, generic: WorkflowServiceDefinition },
} as const;

/** Short name of a service. */
export type Sw4rmServiceName = keyof typeof SW4RM_SERVICES;

/** One RPC of the inventory. */
export interface RpcInfo {
  service: string;
  method: string;
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** The inventory: every RPC path we know (57). */
export function rpcInventory(): RpcInfo[] {
  const out: RpcInfo[] = [];
  for (const { grpc, generic } of Object.values(SW4RM_SERVICES)) {
    for (const [key, m] of Object.entries(grpc) as [string, { path: string; requestStream: boolean; responseStream: boolean }][]) {
      const method = (generic.methods as Record<string, { name: string }>)[key]!.name;
      out.push({ service: generic.fullName, method, path: m.path, requestStream: m.requestStream, responseStream: m.responseStream });
    }
  }
  return out;
}
