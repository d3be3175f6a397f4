// SPDX-License-Identifier: Apache-2.0
// ECPS messages <-> CloudEvents (spec §9): ids, source, type, time and extensions.
import {
  ValidationError,
  cryptoRandom,
  eventTime,
  systemClock,
  uuidv4,
  type Clock,
  type CodecName,
  type EcpsEvent,
  type RandomSource,
} from '@ecps/core';
import { codecFor, codecNameForContentType, CONTENT_TYPES, type MessageFns } from './codecs';
import { ECPS_MESSAGES, type MessageKind, type MessageTypes } from './messages';

export interface EventInit {
  /** `urn:ecps:<node-id>`. */
  source: string;
  /** Defaults to the message's own `id` (MCP, EAP) or a fresh UUID v4. */
  id?: string;
  /** Defaults to now. */
  time?: string;
  extensions?: Readonly<Record<string, string>>;
  /** Defaults to protobuf. */
  codec?: CodecName;
  clock?: Clock;
  random?: RandomSource;
}

let lastTimeMs = Number.NaN;
let lastTime = '';

/** `eventTime(ms)`, formatted once per millisecond: events published in one millisecond share the string. */
function timeAt(ms: number): string {
  if (ms !== lastTimeMs) {
    lastTime = eventTime(ms);
    lastTimeMs = ms;
  }
  return lastTime;
}

function hasKeys(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return true;
  return false;
}

/** {@link createEvent} with the id already chosen (or undefined for a fresh one). */
function buildEvent(type: string, data: Uint8Array, init: EventInit, id: string | undefined): EcpsEvent {
  const event: { -readonly [K in keyof EcpsEvent]: EcpsEvent[K] } = {
    id: id ?? uuidv4(init.random ?? cryptoRandom),
    source: init.source,
    type,
    time: init.time ?? timeAt((init.clock ?? systemClock).now()),
    datacontenttype: CONTENT_TYPES[init.codec ?? 'protobuf'],
    data,
  };
  if (init.extensions && hasKeys(init.extensions)) event.extensions = { ...init.extensions };
  return event;
}

/** Wraps any encoded payload as an event of `type`. */
export function createEvent(type: string, data: Uint8Array, init: EventInit): EcpsEvent {
  return buildEvent(type, data, init, init.id);
}

/** Encodes a canonical message as its CloudEvent. MCP and EAP events take the message id as the event id. */
export function encodeEvent<K extends MessageKind>(kind: K, message: MessageTypes[K], init: EventInit): EcpsEvent {
  const entry = ECPS_MESSAGES[kind];
  const messageId = (message as { id?: unknown }).id;
  const id = init.id ?? (typeof messageId === 'string' && messageId !== '' ? messageId : undefined);
  const codec = codecFor(entry.fns as MessageFns<MessageTypes[K]>, init.codec ?? 'protobuf');
  return buildEvent(entry.eventType, codec.encode(message), init, id);
}

/** Encodes any ts-proto message (e.g. an ext/v1 message) as a CloudEvent of `type`. */
export function encodeMessageEvent<T>(type: string, fns: MessageFns<T>, message: T, init: EventInit): EcpsEvent {
  return createEvent(type, codecFor(fns, init.codec ?? 'protobuf').encode(message), init);
}

/**
 * Decodes the data of an event with the codec its `datacontenttype` names.
 * Throws `DECODE_ERROR` for a wrong event type, an unknown content type or undecodable data.
 */
export function decodeEvent<K extends MessageKind>(kind: K, event: EcpsEvent): MessageTypes[K] {
  const entry = ECPS_MESSAGES[kind];
  if (event.type !== entry.eventType && !(kind === 'Ack' && event.type === 'ecps.stream.end')) {
    throw new ValidationError('DECODE_ERROR', `expected a ${entry.eventType} event, got ${event.type}`);
  }
  return decodeMessageEvent(entry.fns as MessageFns<MessageTypes[K]>, event);
}

/** Decodes an event's data as message `fns`, by its content type, without checking the event type. */
export function decodeMessageEvent<T>(fns: MessageFns<T>, event: EcpsEvent): T {
  const codec = codecNameForContentType(event.datacontenttype);
  if (!codec) throw new ValidationError('DECODE_ERROR', `unsupported datacontenttype ${JSON.stringify(event.datacontenttype)}`);
  return codecFor(fns, codec).decode(event.data);
}
