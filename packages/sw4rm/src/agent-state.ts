// SPDX-License-Identifier: Apache-2.0
// Agent lifecycle state machine (spec §3.2), including the three FAILED transitions the reference JS lacks.
import { ValidationError } from '@ecps/core';
import { AgentState } from './gen/common';

const S = AgentState;

/** Allowed transitions, exactly as tabulated in the spec. */
export const AGENT_TRANSITIONS: ReadonlyMap<AgentState, readonly AgentState[]> = new Map([
  [S.INITIALIZING, [S.RUNNABLE, S.FAILED_STATE]],
  [S.RUNNABLE, [S.SCHEDULED]],
  [S.SCHEDULED, [S.RUNNING]],
  [S.RUNNING, [S.WAITING, S.WAITING_RESOURCES, S.SUSPENDED, S.COMPLETED, S.FAILED_STATE, S.SHUTTING_DOWN]],
  [S.WAITING, [S.RUNNING]],
  [S.WAITING_RESOURCES, [S.RUNNING, S.FAILED_STATE]],
  [S.SUSPENDED, [S.RESUMED, S.FAILED_STATE]],
  [S.RESUMED, [S.RUNNING]],
  [S.COMPLETED, [S.RUNNABLE]],
  [S.SHUTTING_DOWN, [S.FAILED_STATE]],
  [S.FAILED_STATE, [S.RECOVERING]],
  [S.RECOVERING, [S.RUNNABLE, S.FAILED_STATE, S.SHUTTING_DOWN]],
]);

/** Default timeouts (ms) of states that time out to FAILED (RECOVERING too). */
export const AGENT_STATE_TIMEOUTS_MS: ReadonlyMap<AgentState, number> = new Map([
  [S.INITIALIZING, 60_000],
  [S.WAITING_RESOURCES, 300_000],
  [S.SUSPENDED, 3_600_000],
  [S.RECOVERING, 120_000],
  [S.SHUTTING_DOWN, 30_000],
]);

/** True when `from → to` is in the table; a same-state report counts as allowed (a no-op). */
export function isAgentTransitionAllowed(from: AgentState, to: AgentState): boolean {
  return from === to || (AGENT_TRANSITIONS.get(from)?.includes(to) ?? false);
}

/** One agent's state. */
export class AgentStateMachine {
  constructor(private current: AgentState = S.INITIALIZING) {}

  get state(): AgentState {
    return this.current;
  }

  /**
   * Moves to `to`. @throws ValidationError INVALID_ARGUMENT for a transition not in the table.
   */
  transition(to: AgentState): void {
    if (!isAgentTransitionAllowed(this.current, to)) {
      throw new ValidationError('INVALID_ARGUMENT', `agent state ${S[this.current]} → ${S[to]} is not allowed`);
    }
    this.current = to;
  }
}
