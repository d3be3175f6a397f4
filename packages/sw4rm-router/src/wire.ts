// SPDX-License-Identifier: Apache-2.0
// Raw-bytes codecs for the router: the envelope is kept exactly as received (unknown fields included) and
// StreamItem is hand-encoded around those bytes (spec §2.4, §3.1).
import type { ServiceDefinition } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { encodeToBuffer } from '@ecps/sw4rm';
import { DeliveryAckRequest, DeliveryAckResponse, SendMessageResponse, StreamRequest } from '@ecps/sw4rm/proto';

/** SendMessageRequest as the router sees it: the raw envelope bytes, or undefined when `msg` is absent. */
export interface RawSendRequest {
  envelope: Uint8Array | undefined;
}

/** Parses SendMessageRequest keeping field 1's bytes untouched. */
export function decodeRawSendRequest(bytes: Uint8Array): RawSendRequest {
  const reader = new BinaryReader(bytes);
  let envelope: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 10) envelope = reader.bytes();
    else reader.skip(tag & 7);
  }
  return { envelope };
}

function varint(out: Buffer, at: number, value: bigint): number {
  let v = BigInt.asUintN(64, value);
  while (v > 0x7fn) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

/** A pre-encoded StreamItem: `{1: envelope bytes, 2: seq}`, written straight into one buffer. */
export function encodeStreamItem(envelope: Uint8Array, seq: bigint): Buffer {
  const out = Buffer.allocUnsafe(1 + 10 + envelope.length + 1 + 10);
  out[0] = 10;
  let at = varint(out, 1, BigInt(envelope.length));
  out.set(envelope, at);
  at += envelope.length;
  out[at++] = 16;
  at = varint(out, at, seq);
  return out.subarray(0, at);
}

/** RouterService with the raw codecs (paths identical to the generated definition). */
export const RAW_ROUTER_SERVICE: ServiceDefinition = {
  SendMessage: {
    path: '/sw4rm.router.RouterService/SendMessage',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Uint8Array) => Buffer.from(v),
    requestDeserialize: (b: Buffer) => decodeRawSendRequest(b),
    responseSerialize: (v: SendMessageResponse) => encodeToBuffer(SendMessageResponse, v),
    responseDeserialize: (b: Buffer) => SendMessageResponse.decode(b),
  },
  StreamIncoming: {
    path: '/sw4rm.router.RouterService/StreamIncoming',
    requestStream: false,
    responseStream: true,
    requestSerialize: (v: StreamRequest) => Buffer.from(StreamRequest.encode(v).finish()),
    requestDeserialize: (b: Buffer) => StreamRequest.decode(b),
    responseSerialize: (v: Buffer) => v,
    responseDeserialize: (b: Buffer) => b,
  },
  AckDelivery: {
    path: '/sw4rm.router.RouterService/AckDelivery',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: DeliveryAckRequest) => encodeToBuffer(DeliveryAckRequest, v),
    requestDeserialize: (b: Buffer) => DeliveryAckRequest.decode(b),
    responseSerialize: (v: DeliveryAckResponse) => encodeToBuffer(DeliveryAckResponse, v),
    responseDeserialize: (b: Buffer) => DeliveryAckResponse.decode(b),
  },
};
