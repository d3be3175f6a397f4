// SPDX-License-Identifier: Apache-2.0
// HITL questions and answers as SW4RM envelopes (spec §3.14: invocations also travel as HITL_INVOCATION envelopes).
// An invocation goes out to the reviewers; a reviewer answers with a decision envelope correlated to it. Both are
// JSON, with the field names of the spec's HITL payloads plus what HitlService carries (priority, proposed
// actions, context), so an agent that only has the envelope can decide.
import { ValidationError } from '@ecps/core';
import { MessageType, buildEnvelope } from '@ecps/sw4rm';
import type { Envelope } from '@ecps/sw4rm';
import { HITL_ACTIONS } from './hitl-queue';
import type { HitlAction, PendingHitl } from './hitl-queue';

/** Content type of invocation envelopes. */
export const HITL_INVOCATION_CONTENT_TYPE = 'application/vnd.sw4rm.hitl.invocation+json;v=1';
/** Content type of decision envelopes (message type HITL_INVOCATION too: the answer belongs to the same exchange). */
export const HITL_DECISION_CONTENT_TYPE = 'application/vnd.sw4rm.hitl.decision+json;v=1';

/** The JSON payload of an invocation envelope. */
export interface HitlInvocationPayload {
  invocation_id: string;
  reason_type: string;
  correlation_id: string;
  priority: number;
  proposed_actions: string[];
  /** The suggested action: the first proposed one, if any. */
  suggested_action: string;
  /** The context as text when it is UTF-8, else base64 in `context_b64`. */
  context?: string;
  context_b64?: string;
  /** When the fallback decides (ISO-8601), if a deadline is configured. */
  deadline_ts?: string;
}

/** A decision as it travels in an envelope. */
export interface HitlDecisionPayload {
  invocation_id: string;
  decision: HitlAction;
  rationale: string;
  /** The decision payload (e.g. a modified request), base64. */
  patch_b64: string;
}

const typeOf = (ct: string) => ct.split(';')[0]!.trim().toLowerCase();

/** The HITL_INVOCATION envelope announcing a pending question; its correlation id is the invocation id. */
export function hitlInvocationEnvelope(producerId: string, pending: PendingHitl): Envelope {
  const payload: HitlInvocationPayload = {
    invocation_id: pending.id,
    reason_type: pending.reason_type,
    correlation_id: pending.id,
    priority: pending.priority,
    proposed_actions: pending.proposed_actions,
    suggested_action: pending.proposed_actions[0] ?? '',
    ...(pending.context !== undefined ? { context: pending.context } : { context_b64: pending.context_b64 ?? '' }),
    ...(pending.deadline ? { deadline_ts: pending.deadline } : {}),
  };
  return buildEnvelope({ producerId, messageType: MessageType.HITL_INVOCATION, contentType: HITL_INVOCATION_CONTENT_TYPE, payload: JSON.stringify(payload), correlationId: pending.id });
}

/** A reviewer's answer to an invocation envelope (correlated to it). @throws ValidationError INVALID_ARGUMENT for an unknown action. */
export function hitlDecisionEnvelope(producerId: string, invocationId: string, decision: HitlAction, options: { rationale?: string; payload?: Uint8Array } = {}): Envelope {
  if (!(HITL_ACTIONS as readonly string[]).includes(decision)) throw new ValidationError('INVALID_ARGUMENT', `decision must be one of ${HITL_ACTIONS.join(', ')}`);
  const payload: HitlDecisionPayload = { invocation_id: invocationId, decision, rationale: options.rationale ?? '', patch_b64: Buffer.from(options.payload ?? new Uint8Array()).toString('base64') };
  return buildEnvelope({ producerId, messageType: MessageType.HITL_INVOCATION, contentType: HITL_DECISION_CONTENT_TYPE, payload: JSON.stringify(payload), correlationId: invocationId });
}

function json(env: Envelope): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(env.payload));
  } catch {
    throw new ValidationError('INVALID_ARGUMENT', 'HITL envelope payload is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError('INVALID_ARGUMENT', 'HITL envelope payload is not a JSON object');
  return value as Record<string, unknown>;
}

/**
 * The invocation in a HITL_INVOCATION envelope, or undefined for any other envelope.
 * @throws ValidationError INVALID_ARGUMENT for a malformed invocation payload.
 */
export function parseHitlInvocation(env: Envelope): HitlInvocationPayload | undefined {
  if (env.messageType !== MessageType.HITL_INVOCATION || typeOf(env.contentType) !== typeOf(HITL_INVOCATION_CONTENT_TYPE)) return undefined;
  const v = json(env);
  if (typeof v['invocation_id'] !== 'string' || typeof v['reason_type'] !== 'string') throw new ValidationError('INVALID_ARGUMENT', 'HITL invocation needs invocation_id and reason_type');
  return v as unknown as HitlInvocationPayload;
}

/**
 * The decision in a HITL decision envelope, or undefined for any other envelope.
 * @throws ValidationError INVALID_ARGUMENT for a malformed decision (missing id, unknown action, bad base64).
 */
export function parseHitlDecision(env: Envelope): HitlDecisionPayload | undefined {
  if (env.messageType !== MessageType.HITL_INVOCATION || typeOf(env.contentType) !== typeOf(HITL_DECISION_CONTENT_TYPE)) return undefined;
  const v = json(env);
  const id = v['invocation_id'];
  const decision = v['decision'];
  const patch = v['patch_b64'] ?? '';
  if (typeof id !== 'string' || !id) throw new ValidationError('INVALID_ARGUMENT', 'HITL decision needs invocation_id');
  if (typeof decision !== 'string' || !(HITL_ACTIONS as readonly string[]).includes(decision)) throw new ValidationError('INVALID_ARGUMENT', `HITL decision must be one of ${HITL_ACTIONS.join(', ')}`);
  if (typeof patch !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(patch)) throw new ValidationError('INVALID_ARGUMENT', 'HITL decision patch_b64 is not base64');
  const rationale = typeof v['rationale'] === 'string' ? v['rationale'] : '';
  return { invocation_id: id, decision: decision as HitlAction, rationale, patch_b64: patch };
}
