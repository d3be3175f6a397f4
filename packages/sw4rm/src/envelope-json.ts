// SPDX-License-Identifier: Apache-2.0
// JSON-safe envelope form (snake_case, bytes base64, 64-bit as decimal strings, enums as names): the shape
// SW4RM's proto-loader clients use (spec §6.1) and the activity buffer stores.
import { enumName, normaliseEnum } from './enums';
import { EnvelopeState, MessageType } from './gen/common';
import type { Envelope } from './gen/common';
import { toInt64, toUint64 } from './int64';

/** Envelope → proto-loader-shaped plain object. */
export function envelopeToJson(e: Envelope): Record<string, unknown> {
  return {
    message_id: e.messageId,
    idempotency_token: e.idempotencyToken,
    producer_id: e.producerId,
    correlation_id: e.correlationId,
    sequence_number: e.sequenceNumber.toString(),
    retry_count: e.retryCount,
    message_type: enumName(MessageType, e.messageType),
    content_type: e.contentType,
    content_length: e.contentLength.toString(),
    repo_id: e.repoId,
    worktree_id: e.worktreeId,
    hlc_timestamp: e.hlcTimestamp,
    ttl_ms: e.ttlMs.toString(),
    timestamp: e.timestamp ? { seconds: e.timestamp.seconds.toString(), nanos: e.timestamp.nanos } : null,
    payload: Buffer.from(e.payload).toString('base64'),
    state: enumName(EnvelopeState, e.state),
    parent_correlation_id: e.parentCorrelationId,
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A 32-bit integer field (`retry_count`, `nanos`). @throws RangeError for anything else, as 64-bit fields do. */
function int32(value: unknown, field: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new RangeError(`${field}: ${String(value)} is not an integer in ${min}..${max}`);
  return n;
}

/**
 * Proto-loader-shaped object → Envelope. Enums as numbers or names, 64-bit as safe numbers or strings,
 * payload as Uint8Array/Buffer or base64. @throws RangeError for unsafe 64-bit numbers and malformed integer fields.
 */
export function envelopeFromJson(o: Record<string, unknown>): Envelope {
  const ts = o['timestamp'] as { seconds?: unknown; nanos?: unknown } | null | undefined;
  const payload = o['payload'];
  return {
    messageId: str(o['message_id']),
    idempotencyToken: str(o['idempotency_token']),
    producerId: str(o['producer_id']),
    correlationId: str(o['correlation_id']),
    sequenceNumber: toUint64((o['sequence_number'] as string | number | bigint | undefined) ?? 0n, 'sequence_number'),
    retryCount: int32(o['retry_count'] ?? 0, 'retry_count', 0, 0xffffffff),
    messageType: normaliseEnum(MessageType, o['message_type']) ?? 0,
    contentType: str(o['content_type']),
    contentLength: toUint64((o['content_length'] as string | number | bigint | undefined) ?? 0n, 'content_length'),
    repoId: str(o['repo_id']),
    worktreeId: str(o['worktree_id']),
    hlcTimestamp: str(o['hlc_timestamp']),
    ttlMs: toUint64((o['ttl_ms'] as string | number | bigint | undefined) ?? 0n, 'ttl_ms'),
    timestamp: ts ? { seconds: toInt64((ts.seconds as string | number | bigint | undefined) ?? 0n, 'timestamp.seconds'), nanos: int32(ts.nanos ?? 0, 'timestamp.nanos', 0, 999_999_999) } : undefined,
    payload: payload instanceof Uint8Array ? new Uint8Array(payload) : typeof payload === 'string' ? new Uint8Array(Buffer.from(payload, 'base64')) : new Uint8Array(),
    state: normaliseEnum(EnvelopeState, o['state']) ?? 0,
    parentCorrelationId: str(o['parent_correlation_id']),
  };
}
