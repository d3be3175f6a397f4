// SPDX-License-Identifier: Apache-2.0
// Replays a recorded action log into running nodes: each action is sent again, in recorded order, with optional
// pacing, through an EAP endpoint, and the state_sha sequence can be checked against an expected one.
import { replayEaplog } from '@ecps/eaplog';
import type { ReplayOptions, ReplayResult } from '@ecps/eaplog';
import type { EapResult } from '@ecps/proto/ext/v1';
import type { DispatchOptions, Eap } from './eap';

export interface ReplayToNodeOptions extends Omit<ReplayOptions, 'handler'>, DispatchOptions {
  /** Called with each action's result. */
  onResult?: (index: number, result: EapResult | undefined) => void;
}

/**
 * Sends every action of a log (file path or bytes) through `eap`, in order, awaiting each result.
 * Throws like {@link replayEaplog} and {@link Eap.sendAction}.
 */
export function replayToNode(eap: Eap, source: string | Uint8Array, options: ReplayToNodeOptions = {}): Promise<ReplayResult> {
  return replayEaplog(source, {
    ...options,
    handler: async (recorded) => {
      const { result } = await eap.sendAction(recorded.eap, options);
      options.onResult?.(recorded.index, result);
    },
  });
}
