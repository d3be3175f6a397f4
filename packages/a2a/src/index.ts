// SPDX-License-Identifier: Apache-2.0
// @ecps/a2a: agent discovery, heartbeats, capability advertisements and coordination requests.

export {
  A2aAgent,
  startA2aAgent,
  heartbeatTopic,
  coordinationService,
  HEARTBEAT_EVENT_TYPE,
  COORDINATION_REQUEST_TYPE,
  COORDINATION_RESPONSE_TYPE,
} from './a2a-agent';

export type { A2aAgentOptions, Capability, PeerRecord, PeerChange, CoordinationReply, CoordinationHandler } from './a2a-agent';
