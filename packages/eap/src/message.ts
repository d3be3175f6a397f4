// SPDX-License-Identifier: Apache-2.0
// Whole EAP messages: building (spec, id, state_sha, body, meta) and strict decoding for receivers.
import { SPEC_STRINGS, ValidationError, assertValidEap, cryptoRandom, uuidv4 } from '@ecps/core';
import type { RandomSource } from '@ecps/core';
import { EAP } from '@ecps/proto';
import { assertValidActionBody, buildActionBody, eapBody } from './actions';
import type { ActionData, ActionType } from './actions';
import { resolveStateSha } from './state-sha';
import type { StateInput } from './state-sha';

export interface BuildActionOptions extends StateInput {
  /** UUID v4 (lowercase) unless supplied; it becomes the CloudEvents id. */
  id?: string;
  /** Free meta keys. `action_type` is set automatically; `safety` by `stopOnFail`. */
  meta?: Readonly<Record<string, string>>;
  /** Sets meta `safety: stop_on_fail`: abort the rest of a sequence when this action fails. */
  stopOnFail?: boolean;
  random?: RandomSource;
}

/**
 * Builds a validated EAP message. Throws `INVALID_ARGUMENT` for bad action data, `MISSING_STATE_SHA` /
 * `INVALID_STATE_SHA` for the state digest.
 */
export function buildAction<K extends ActionType>(type: K, data: ActionData[K], options: BuildActionOptions): EAP {
  const body = eapBody(type, buildActionBody(type, data));
  const stateSha = resolveStateSha(options);
  const id = options.id ?? uuidv4(options.random ?? cryptoRandom);
  if (id === '') throw new ValidationError('INVALID_ARGUMENT', 'action id must not be empty');
  const meta: Record<string, string> = { ...(options.meta ?? {}), action_type: type };
  if (options.stopOnFail) meta.safety = 'stop_on_fail';
  return { spec: SPEC_STRINGS.eap, id, stateSha, body, meta };
}

/** Exact protobuf bytes of an action (what goes on the wire and into the log). */
export function encodeAction(action: EAP): Uint8Array {
  return EAP.encode(action).finish();
}

/**
 * Decodes and checks a received action (spec §1, §3): `DECODE_ERROR` for bad bytes, `UNSUPPORTED_VERSION` for the
 * spec string, `INVALID_STATE_SHA`, `MISSING_ACTION_BODY`, and `INVALID_ARGUMENT` for a body outside the ranges the
 * builders enforce (so a handler never sees a NaN position, a gripper at 1.5 or a quaternion of length 2).
 */
export function decodeAction(bytes: Uint8Array): EAP {
  let action: EAP;
  try {
    action = EAP.decode(bytes);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', 'not an EAP message', { cause });
  }
  assertValidEap(action);
  assertValidActionBody(action);
  return action;
}

/** Whether an action asks to stop its sequence when it fails. */
export function isStopOnFail(action: Pick<EAP, 'meta'>): boolean {
  return action.meta.safety === 'stop_on_fail';
}
