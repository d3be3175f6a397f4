// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-hitl.

export { FileHitlQueue, HITL_ACTIONS, answerHitl, listPendingHitl } from './hitl-queue';
export { addHitlService, startHitl } from './server';

export type { HitlAction, HitlBackend, PendingHitl, StoredDecision, FileHitlQueueOptions } from './hitl-queue';
export type { StartHitlOptions, RunningHitl } from './server';
