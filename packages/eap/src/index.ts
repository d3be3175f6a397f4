// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/eap: EAP actions (spec §5), their builders, and the node endpoint.

export { ACTION_TYPES, buildActionBody, buildPose, actionTypeOf, assertValidActionBody } from './actions';
export { buildAction, encodeAction, decodeAction, isStopOnFail } from './message';
export { resolveStateSha, sha256Hasher, ltpSnapshot } from './state-sha';
export { createEap, EAP_TOPIC, EAP_RESULT_EVENT_TYPE, EAP_TARGET_EXTENSION, resultTopic } from './eap';
export { openActionLog, defaultLogFileName } from './action-log';
export { replayToNode } from './replay';
export { EapStatus, EapResult } from '@ecps/proto/ext/v1';

export type {
  ActionType,
  ActionBodies,
  ActionData,
  PoseData,
  GripperData,
  GripperCommandName,
  CloudData,
  SimData,
  NavigateData,
  ManipulateData,
  ManipulationName,
} from './actions';
export type { BuildActionOptions } from './message';
export type { StateHasher, StateInput } from './state-sha';
export type {
  Eap,
  EapOptions,
  ActionContext,
  ActionHandler,
  BudgetExceeded,
  SendOptions,
  DispatchOptions,
  SendOutcome,
  SequenceStep,
  SequenceOutcome,
} from './eap';
export type { ActionLog, ActionLogOptions } from './action-log';
export type { ReplayToNodeOptions } from './replay';
