// SPDX-License-Identifier: Apache-2.0
// ACK envelopes and their JSON payload (spec §3.4): strict on emit, liberal on accept.
import { CONTENT_TYPES } from './content-types';
import type { EnvelopeBuilderOptions } from './envelope';
import { buildEnvelope } from './envelope';
import { normaliseEnum } from './enums';
import { AckStage, EnvelopeState, ErrorCode, MessageType } from './gen/common';
import type { Envelope } from './gen/common';

/** A parsed ACK. `errorCode` is UNSPECIFIED when absent or unknown; `rawErrorCode` keeps what was sent. */
export interface AckPayload {
  ackForMessageId: string;
  ackStage: AckStage;
  errorCode: ErrorCode;
  note?: string;
  rawErrorCode?: unknown;
}

/** Stages after which nothing changes (REJECTED, FAILED, TIMED_OUT). */
export function isTerminalStage(stage: AckStage): boolean {
  return stage === AckStage.REJECTED || stage === AckStage.FAILED || stage === AckStage.TIMED_OUT;
}

/** Stages that mean success (FULFILLED, plus RECEIVED/READ as progress). */
export function isSuccessStage(stage: AckStage): boolean {
  return stage === AckStage.RECEIVED || stage === AckStage.READ || stage === AckStage.FULFILLED;
}

/** AckStage n (1–6) is EnvelopeState n+1. */
export function envelopeStateForStage(stage: AckStage): EnvelopeState {
  return stage >= 1 && stage <= 6 ? ((stage + 1) as EnvelopeState) : EnvelopeState.ENVELOPE_STATE_UNSPECIFIED;
}

/** Encodes the ACK JSON: numeric stage, `error_code` omitted when 0, `note` when given. */
export function encodeAckPayload(ack: Omit<AckPayload, 'rawErrorCode'>): Uint8Array {
  const body: Record<string, unknown> = { ack_for_message_id: ack.ackForMessageId, ack_stage: ack.ackStage };
  if (ack.errorCode) body['error_code'] = ack.errorCode;
  if (ack.note) body['note'] = ack.note;
  return new TextEncoder().encode(JSON.stringify(body));
}

/**
 * Parses an ACK payload: stage as number, numeric string or (case-insensitive, optional `ACK_STAGE_` prefix) name;
 * error code as number or name. Returns undefined for anything invalid (no id, unparsable stage, not a JSON object).
 */
export function parseAckPayload(payload: Uint8Array): AckPayload | undefined {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const o = body as Record<string, unknown>;
  const id = o['ack_for_message_id'];
  if (typeof id !== 'string' || id === '') return undefined;
  const stage = normaliseEnum(AckStage, o['ack_stage'], 'ACK_STAGE_');
  if (stage === undefined || stage < 1 || stage > 6) return undefined;
  const raw = o['error_code'];
  const code = raw === undefined ? 0 : normaliseEnum(ErrorCode, raw);
  const known = code !== undefined && typeof ErrorCode[code] === 'string';
  const result: AckPayload = { ackForMessageId: id, ackStage: stage, errorCode: known ? code : ErrorCode.ERROR_CODE_UNSPECIFIED };
  if (typeof o['note'] === 'string') result.note = o['note'];
  if (raw !== undefined && !known) result.rawErrorCode = raw;
  return result;
}

/** Reads the ACK carried by an ACKNOWLEDGEMENT envelope (any JSON object payload), else undefined. */
export function ackOf(envelope: Envelope): AckPayload | undefined {
  if (normaliseEnum(MessageType, envelope.messageType) !== MessageType.ACKNOWLEDGEMENT) return undefined;
  return parseAckPayload(envelope.payload);
}

/** Options of {@link buildAckEnvelope}. */
export interface AckInit {
  /** The acknowledging agent (or the router id for router NACKs). */
  producerId: string;
  stage: AckStage;
  errorCode?: ErrorCode;
  note?: string;
}

/**
 * The ACK (or NACK, for terminal stages) of `original`: ACKNOWLEDGEMENT, same correlation id, ACK content type.
 * @throws TypeError when asked to acknowledge an ACKNOWLEDGEMENT (ACKs are never acked).
 */
export function buildAckEnvelope(original: Pick<Envelope, 'messageId' | 'correlationId' | 'messageType'>, init: AckInit, options?: EnvelopeBuilderOptions): Envelope {
  if (normaliseEnum(MessageType, original.messageType) === MessageType.ACKNOWLEDGEMENT) {
    throw new TypeError('never acknowledge an ACKNOWLEDGEMENT');
  }
  const payload: Omit<AckPayload, 'rawErrorCode'> = {
    ackForMessageId: original.messageId,
    ackStage: init.stage,
    errorCode: init.errorCode ?? ErrorCode.ERROR_CODE_UNSPECIFIED,
  };
  if (init.note !== undefined) payload.note = init.note;
  return buildEnvelope(
    {
      producerId: init.producerId,
      messageType: MessageType.ACKNOWLEDGEMENT,
      correlationId: original.correlationId,
      contentType: CONTENT_TYPES.ack,
      payload: encodeAckPayload(payload),
    },
    options,
  );
}
