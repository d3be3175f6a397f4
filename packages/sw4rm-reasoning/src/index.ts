// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-reasoning.

export { HeuristicReasoning, HEURISTIC_MODEL } from './heuristic-backend';
export { addReasoningService, startReasoning, REASONING_LIMITS } from './server';

export type { ReasoningBackend } from './backend';
export type { StartReasoningOptions } from './server';
