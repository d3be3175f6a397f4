// SPDX-License-Identifier: Apache-2.0
// The three wire encodings of every ECPS message. Decoders turn every failure into DECODE_ERROR.
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import { ValidationError, type CodecName, type MessageCodec } from '@ecps/core';

/** What ts-proto generates for each message (`MCP`, `EAP`, `LTP`, ...). */
export interface MessageFns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array, length?: number): T;
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
  fromPartial(object: never): T;
}

export const CONTENT_TYPES: Readonly<Record<CodecName, string>> = {
  protobuf: 'application/protobuf',
  json: 'application/json',
  msgpack: 'application/msgpack',
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function decodeError(codec: CodecName, cause: unknown): ValidationError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ValidationError('DECODE_ERROR', `cannot decode ${codec} message: ${reason}`, { cause });
}

/** Protobuf (the default wire format, spec §2). */
export function protobufCodec<T>(fns: MessageFns<T>): MessageCodec<T> {
  return {
    name: 'protobuf',
    contentType: CONTENT_TYPES.protobuf,
    encode: (message) => fns.encode(message).finish(),
    decode: (bytes) => {
      try {
        return fns.decode(bytes);
      } catch (cause) {
        throw decodeError('protobuf', cause);
      }
    },
  };
}

/** Proto3 canonical JSON (64-bit integers as decimal strings, bytes as base64). */
export function jsonCodec<T>(fns: MessageFns<T>): MessageCodec<T> {
  return {
    name: 'json',
    contentType: CONTENT_TYPES.json,
    encode: (message) => utf8.encode(JSON.stringify(fns.toJSON(message))),
    decode: (bytes) => {
      try {
        const parsed: unknown = JSON.parse(utf8Decoder.decode(bytes));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
        return fns.fromJSON(parsed);
      } catch (cause) {
        throw decodeError('json', cause);
      }
    },
  };
}

/**
 * MessagePack of the message object: bytes as `bin`, 64-bit integers as int64/uint64. A decoded value is
 * accepted only if it survives a protobuf round trip unchanged, so wrongly typed fields are rejected rather
 * than coerced.
 */
export function msgpackCodec<T>(fns: MessageFns<T>): MessageCodec<T> {
  return {
    name: 'msgpack',
    contentType: CONTENT_TYPES.msgpack,
    encode: (message) => msgpackEncode(message, { useBigInt64: true, ignoreUndefined: true }),
    decode: (bytes) => {
      let message: T;
      try {
        const raw = msgpackDecode(bytes, { useBigInt64: true });
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a map');
        message = fns.fromPartial(raw as never);
        const roundTrip = fns.decode(fns.encode(message).finish());
        if (!sameValue(roundTrip, message)) throw new Error('fields of the wrong type');
      } catch (cause) {
        throw decodeError('msgpack', cause);
      }
      return message;
    },
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a === 'bigint' || typeof b === 'bigint') return typeof a === typeof b && a === b;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const codecCache = new WeakMap<object, Partial<Record<CodecName, MessageCodec<unknown>>>>();

/** The codec named `name` for a message type (built once per type and codec). */
export function codecFor<T>(fns: MessageFns<T>, name: CodecName): MessageCodec<T> {
  let byName = codecCache.get(fns);
  if (!byName) codecCache.set(fns, (byName = {}));
  const cached = byName[name];
  if (cached) return cached as MessageCodec<T>;
  const codec = name === 'protobuf' ? protobufCodec(fns) : name === 'json' ? jsonCodec(fns) : msgpackCodec(fns);
  byName[name] = codec as MessageCodec<unknown>;
  return codec;
}

/** The codec a `datacontenttype` names (absent = protobuf); undefined for an unknown type. */
export function codecNameForContentType(contentType: string | undefined): CodecName | undefined {
  if (contentType === undefined || contentType === '') return 'protobuf';
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  for (const [name, type] of Object.entries(CONTENT_TYPES)) if (type === base) return name as CodecName;
  if (base === 'application/x-protobuf') return 'protobuf';
  return undefined;
}
