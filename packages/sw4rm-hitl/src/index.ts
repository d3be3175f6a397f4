// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-hitl.

export { FileHitlQueue, HITL_ACTIONS, answerHitl, listPendingHitl } from './hitl-queue';
export { addHitlService, startHitl } from './server';
export { HITL_DECISION_CONTENT_TYPE, HITL_INVOCATION_CONTENT_TYPE, hitlDecisionEnvelope, hitlInvocationEnvelope, parseHitlDecision, parseHitlInvocation } from './hitl-envelopes';

export type { HitlAction, HitlBackend, PendingHitl, StoredDecision, FileHitlQueueOptions } from './hitl-queue';
export type { StartHitlOptions, RunningHitl } from './server';
export type { HitlDecisionPayload, HitlInvocationPayload } from './hitl-envelopes';
