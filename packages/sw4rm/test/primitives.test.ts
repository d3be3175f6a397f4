// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { ManualClock, isUuid, seededRandom } from '@ecps/core';
import { status } from '@grpc/grpc-js';
import { Envelope as EnvelopeCodec } from '../src/gen/common';
import {
  AckStage,
  CONTENT_TYPES,
  EnvelopeState,
  ErrorCode,
  HybridLogicalClock,
  MessageType,
  buildAckEnvelope,
  buildEnvelope,
  compareHlc,
  contentTypeMatches,
  durationFromMs,
  encodeAckPayload,
  envelopeFromJson,
  envelopeToJson,
  errorCodeFromGrpcStatus,
  grpcStatusFromErrorCode,
  idempotencyToken,
  parseAckPayload,
  parseHlc,
  prepareRequest,
  retryEnvelope,
  timestampFromMs,
  toUint64,
} from '../src/index';
import { SendMessageRequest, StreamItem } from '../src/gen/router';

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const json = (s: string) => new TextEncoder().encode(s);

describe('64-bit fields (spec §2.4, checklist 2)', () => {
  it('rejects 2**53 as a number and round-trips uint64 max', () => {
    expect(() => toUint64(2 ** 53)).toThrow(/safe integer/);
    expect(toUint64('18446744073709551615')).toBe(18446744073709551615n);
    expect(() => toUint64('18446744073709551616')).toThrow(RangeError);
    const env = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, ttlMs: '18446744073709551615' });
    const back = EnvelopeCodec.decode(EnvelopeCodec.encode(env).finish());
    expect(back.ttlMs.toString()).toBe('18446744073709551615');
    expect(() => buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, sequenceNumber: 2 ** 53 })).toThrow(/safe integer/);
  });

  it('rejects unknown fields in request objects before dispatch and converts 64-bit inputs', () => {
    expect(() => prepareRequest(StreamItem, { seq: 1, bogus: true })).toThrow(/unknown field "bogus"/);
    expect(prepareRequest(StreamItem, { seq: '42' })['seq']).toBe(42n);
    expect(() => prepareRequest(StreamItem, { seq: 2 ** 53 })).toThrow(/safe integer/);
    expect(() => prepareRequest(SendMessageRequest, { msg: undefined, agent: 'x' })).toThrow(/unknown field/);
  });
});

describe('envelope builder (spec §3.5, checklist 3)', () => {
  const clock = new ManualClock(1_725_552_000_000);
  const opts = { clock, random: seededRandom(1) };

  it('applies the defaults', () => {
    const e = buildEnvelope({ producerId: 'agent', messageType: MessageType.DATA }, opts);
    expect(isUuid(e.messageId) && isUuid(e.correlationId)).toBe(true);
    expect(e.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(e.contentType).toBe('application/json');
    expect(e.contentLength).toBe(0n);
    expect(e.sequenceNumber).toBe(1n);
    expect(e.state).toBe(EnvelopeState.ENVELOPE_STATE_SENT);
    expect(e.hlcTimestamp).toBe('1725552000000:0:agent');
    expect(e.timestamp).toEqual({ seconds: 1_725_552_000n, nanos: 0 });
    expect([e.idempotencyToken, e.repoId, e.worktreeId, e.parentCorrelationId, e.retryCount, e.ttlMs]).toEqual(['', '', '', '', 0, 0n]);
  });

  it('octet-stream with a payload, explicit type kept, content_length set', () => {
    const raw = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, payload: new Uint8Array([1, 2, 3]) }, opts);
    expect(raw.contentType).toBe('application/octet-stream');
    expect(raw.contentLength).toBe(3n);
    const typed = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, payload: '{"a":1}', contentType: 'application/json' }, opts);
    expect(typed.contentType).toBe('application/json');
    expect(typed.contentLength).toBe(7n);
  });

  it('encodes pre-epoch timestamps with floor seconds and durations with sign', () => {
    expect(timestampFromMs(-875)).toEqual({ seconds: -1n, nanos: 125_000_000 });
    expect(durationFromMs(-1500)).toEqual({ seconds: -1n, nanos: -500_000_000 });
  });

  it('round-trips parent_correlation_id (field 100) on the wire', () => {
    const e = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, parentCorrelationId: 'swarm-1' }, opts);
    expect(EnvelopeCodec.decode(EnvelopeCodec.encode(e).finish()).parentCorrelationId).toBe('swarm-1');
  });

  it('retry keeps the token, takes a new id and counts', () => {
    const e = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, idempotencyToken: 'tok' }, opts);
    const r = retryEnvelope(e, opts);
    expect(r.messageId).not.toBe(e.messageId);
    expect([r.idempotencyToken, r.retryCount, r.correlationId]).toEqual(['tok', 1, e.correlationId]);
  });

  it('converts to and from the proto-loader object shape', () => {
    const e = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, payload: 'x', sequenceNumber: '18446744073709551615' }, opts);
    const o = envelopeToJson(e);
    expect(o['message_type']).toBe('DATA');
    expect(o['sequence_number']).toBe('18446744073709551615');
    expect(envelopeFromJson(o)).toEqual(e);
    expect(envelopeFromJson({ ...o, message_type: 2, state: 1 }).messageType).toBe(MessageType.DATA);
  });
});

describe('idempotency tokens (spec §3.6, checklist 4)', () => {
  const ab = '7b2261223a312c2262223a327d';
  const vectors: [string, string, Uint8Array, string][] = [
    ['agent', 'work', new Uint8Array(), 'agent:work:e09d48d3d73fad94'],
    ['agent', 'work', Uint8Array.from({ length: 256 }, (_, i) => i), 'agent:work:544fa6053f3be4ec'],
    ['λ-agent', '操作', hex('e29c93'), 'λ-agent:操作:1237c18398ffb569'],
    ['agent', 'work', hex(ab), 'agent:work:f65efee16e55e693'],
    ['other', 'work', hex(ab), 'other:work:b8dbde8912a6b867'],
    ['agent', 'other', hex(ab), 'agent:other:f52acb7079319be0'],
    ['agent', 'tool:call', hex('610a620063'), 'agent:tool:call:884315fb818090f5'],
    ['agent', 'work', hex('7b2262223a322c2261223a317d'), 'agent:work:6bb2f6594d3064e1'],
  ];
  it.each(vectors)('%s / %s', (producer, op, bytes, token) => {
    expect(idempotencyToken(producer, op, bytes)).toBe(token);
  });
  it('rejects LF in producer_id and operation', () => {
    expect(() => idempotencyToken('agent\nx', 'work')).toThrow(TypeError);
    expect(() => idempotencyToken('agent', 'tool:call\nextra')).toThrow(TypeError);
  });
});

describe('HLC (spec §3.7)', () => {
  it('parses every accepted form and keeps others opaque', () => {
    expect(parseHlc('1725552000000:3:router')).toEqual({ kind: 'ordered', physicalMs: 1725552000000, logical: 3, node: 'router' });
    expect(parseHlc('HLC:1725552000000123:4:browser')).toEqual({ kind: 'ordered', physicalMs: 1725552000000, logical: 4, node: 'browser' });
    expect(parseHlc('1725552000.000001.node-a')).toEqual({ kind: 'ordered', physicalMs: 1725552000000, logical: 1, node: 'node-a' });
    expect(parseHlc('1725552000000')).toEqual({ kind: 'ordered', physicalMs: 1725552000000, logical: 0, node: '' });
    expect(parseHlc('garbage')).toEqual({ kind: 'opaque', raw: 'garbage' });
    expect(compareHlc('5:0:a', '5:1:a')).toBe(-1);
    expect(compareHlc('x', '5:1:a')).toBeUndefined();
  });
  it('follows the send and receive rules', () => {
    const clock = new ManualClock(1000);
    const h = new HybridLogicalClock('n', clock);
    expect(h.now()).toBe('1000:0:n');
    expect(h.now()).toBe('1000:1:n');
    expect(h.receive('2000:5:m')).toBe('2000:6:n');
    expect(h.receive('2000:9:m')).toBe('2000:10:n');
    clock.advance(5000);
    expect(h.now()).toBe('6000:0:n');
  });
});

describe('content types and ACK payloads (spec §3.4, §3.15)', () => {
  it('matches type/subtype case-insensitively with v defaulting to 1', () => {
    expect(contentTypeMatches('Application/VND.sw4rm.ack+json', CONTENT_TYPES.ack)).toBe(true);
    expect(contentTypeMatches('application/vnd.sw4rm.ack+json;v=2', CONTENT_TYPES.ack)).toBe(false);
  });
  it('parses numeric, string and named stages and codes', () => {
    expect(parseAckPayload(json('{"ack_for_message_id":"m","ack_stage":1}'))).toEqual({ ackForMessageId: 'm', ackStage: 1, errorCode: 0 });
    expect(parseAckPayload(json('{"ack_for_message_id":"m","ack_stage":"rejected","error_code":"buffer_full"}'))?.errorCode).toBe(ErrorCode.BUFFER_FULL);
    expect(parseAckPayload(json('{"ack_for_message_id":"m","ack_stage":"ACK_STAGE_READ"}'))?.ackStage).toBe(AckStage.READ);
    expect(parseAckPayload(json('{"ack_for_message_id":"m","ack_stage":"4","error_code":"NOPE"}'))).toEqual({
      ackForMessageId: 'm',
      ackStage: 4,
      errorCode: 0,
      rawErrorCode: 'NOPE',
    });
    expect(parseAckPayload(json('{"ack_stage":1}'))).toBeUndefined();
    expect(parseAckPayload(json('{"ack_for_message_id":"m","ack_stage":"bogus"}'))).toBeUndefined();
    expect(parseAckPayload(json('[1]'))).toBeUndefined();
    expect(new TextDecoder().decode(encodeAckPayload({ ackForMessageId: 'm', ackStage: 1, errorCode: 0 }))).toBe('{"ack_for_message_id":"m","ack_stage":1}');
  });
  it('builds ACKs with the original correlation and never acks an ACK', () => {
    const data = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, correlationId: 'c1' });
    const ack = buildAckEnvelope(data, { producerId: 'b', stage: AckStage.RECEIVED });
    expect([ack.messageType, ack.correlationId, ack.contentType]).toEqual([MessageType.ACKNOWLEDGEMENT, 'c1', CONTENT_TYPES.ack]);
    expect(() => buildAckEnvelope(ack, { producerId: 'a', stage: AckStage.RECEIVED })).toThrow(TypeError);
  });
});

describe('gRPC status mapping (spec §6.1)', () => {
  it('maps as SW4RM clients do', () => {
    expect(errorCodeFromGrpcStatus(status.UNIMPLEMENTED)).toBe(ErrorCode.UNSUPPORTED_MESSAGE_TYPE);
    expect(errorCodeFromGrpcStatus(status.RESOURCE_EXHAUSTED)).toBe(ErrorCode.BUFFER_FULL);
    expect(errorCodeFromGrpcStatus(status.FAILED_PRECONDITION)).toBe(ErrorCode.VALIDATION_ERROR);
    expect(errorCodeFromGrpcStatus(status.UNAUTHENTICATED)).toBe(ErrorCode.PERMISSION_DENIED);
    expect(errorCodeFromGrpcStatus(status.ABORTED)).toBe(ErrorCode.INTERNAL_ERROR);
    for (const code of [ErrorCode.BUFFER_FULL, ErrorCode.NO_ROUTE, ErrorCode.ACK_TIMEOUT, ErrorCode.VALIDATION_ERROR, ErrorCode.UNSUPPORTED_MESSAGE_TYPE]) {
      expect(errorCodeFromGrpcStatus(grpcStatusFromErrorCode(code))).toBe(code);
    }
  });
});
