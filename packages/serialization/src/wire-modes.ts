// SPDX-License-Identifier: Apache-2.0
// CloudEvents on the wire (spec §9): binary mode for MQTT 5 (data + properties) and structured mode for
// MQTT 3.1.1 (a JSON event with the protobuf in `data_base64`).
import { CLOUDEVENTS_SPEC_VERSION, ValidationError, isValidExtensionName, type EcpsEvent } from '@ecps/core';

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';

export interface BinaryModeMessage {
  /** MQTT 5 Content Type (`datacontenttype`). */
  contentType?: string;
  /** MQTT 5 User Properties: specversion, id, source, type, time and every extension, names verbatim (no `ce-`). */
  properties: Record<string, string>;
  data: Uint8Array;
}

const FIXED = new Set(['specversion', 'id', 'source', 'type', 'time', 'datacontenttype']);

/** The binary-mode form of an event. */
export function toBinaryMode(event: EcpsEvent): BinaryModeMessage {
  const properties: Record<string, string> = {
    specversion: CLOUDEVENTS_SPEC_VERSION,
    id: event.id,
    source: event.source,
    type: event.type,
  };
  if (event.time) properties['time'] = event.time;
  const extensions = event.extensions;
  if (extensions) for (const name of Object.keys(extensions)) properties[name] = extensions[name]!;
  const message: BinaryModeMessage = { properties, data: event.data };
  if (event.datacontenttype) message.contentType = event.datacontenttype;
  return message;
}

/**
 * Reads a binary-mode message. Throws `DECODE_ERROR` when a required attribute is missing or specversion is not 1.0.
 * Properties whose names are not valid CloudEvents attribute names (lowercase alphanumeric, at most 20) are not
 * attributes and are left out, as structured mode leaves out such members.
 */
export function fromBinaryMode(message: BinaryModeMessage): EcpsEvent {
  const p = message.properties;
  requireAttributes(p['specversion'], p['id'], p['source'], p['type']);
  // one object, fields assigned in place: no entries arrays, no spreads (this runs once per received message)
  const event: { -readonly [K in keyof EcpsEvent]: EcpsEvent[K] } = {
    id: p['id']!,
    source: p['source']!,
    type: p['type']!,
    data: message.data,
  };
  if (p['time']) event.time = p['time'];
  if (message.contentType) event.datacontenttype = message.contentType;
  let extensions: Record<string, string> | undefined;
  for (const name in p) {
    if (!Object.hasOwn(p, name) || FIXED.has(name) || !isValidExtensionName(name)) continue;
    (extensions ??= {})[name] = p[name]!;
  }
  if (extensions) event.extensions = extensions;
  return event;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The structured-mode JSON of an event: attributes and extensions as top-level members, data in `data_base64`. */
export function toStructured(event: EcpsEvent): Uint8Array {
  const json: Record<string, string> = {
    specversion: CLOUDEVENTS_SPEC_VERSION,
    id: event.id,
    source: event.source,
    type: event.type,
  };
  if (event.time) json['time'] = event.time;
  json['datacontenttype'] = event.datacontenttype ?? 'application/protobuf';
  for (const [name, value] of Object.entries(event.extensions ?? {})) {
    if (!FIXED.has(name) && name !== 'data' && name !== 'data_base64') json[name] = value;
  }
  json['data_base64'] = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength).toString('base64');
  return utf8.encode(JSON.stringify(json));
}

/**
 * Reads a structured-mode event. Accepts `data_base64` (strict standard base64 with padding) or JSON `data`.
 * Throws `DECODE_ERROR` for anything that is not a CloudEvents 1.0 JSON event (e.g. the reference SDK's
 * `{"__type__", "data"}` payloads, which receivers ignore).
 */
export function fromStructured(bytes: Uint8Array): EcpsEvent {
  let json: unknown;
  try {
    json = JSON.parse(utf8Decoder.decode(bytes));
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', 'structured CloudEvent is not UTF-8 JSON', { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ValidationError('DECODE_ERROR', 'structured CloudEvent is not a JSON object');
  }
  const o = json as Record<string, unknown>;
  requireAttributes(o['specversion'], o['id'], o['source'], o['type']);
  let data: Uint8Array;
  let contentType = typeof o['datacontenttype'] === 'string' ? o['datacontenttype'] : undefined;
  if (typeof o['data_base64'] === 'string') {
    if (!BASE64_RE.test(o['data_base64'])) throw new ValidationError('DECODE_ERROR', 'data_base64 is not valid base64');
    data = new Uint8Array(Buffer.from(o['data_base64'], 'base64'));
  } else if (o['data'] !== undefined) {
    data = utf8.encode(typeof o['data'] === 'string' ? o['data'] : JSON.stringify(o['data']));
    contentType ??= 'application/json';
  } else {
    data = new Uint8Array(0);
  }
  const extensions: Record<string, string> = {};
  for (const [name, value] of Object.entries(o)) {
    if (FIXED.has(name) || name === 'data' || name === 'data_base64' || !isValidExtensionName(name)) continue;
    if (typeof value === 'string') extensions[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') extensions[name] = String(value);
  }
  return {
    id: o['id'] as string,
    source: o['source'] as string,
    type: o['type'] as string,
    ...(typeof o['time'] === 'string' && o['time'] !== '' ? { time: o['time'] } : {}),
    ...(contentType ? { datacontenttype: contentType } : {}),
    ...(Object.keys(extensions).length > 0 ? { extensions } : {}),
    data,
  };
}

function requireAttributes(specversion: unknown, id: unknown, source: unknown, type: unknown): void {
  if (specversion !== CLOUDEVENTS_SPEC_VERSION) {
    throw new ValidationError('DECODE_ERROR', `not a CloudEvents 1.0 event (specversion ${JSON.stringify(specversion)})`);
  }
  requireString('id', id);
  requireString('source', source);
  requireString('type', type);
}

function requireString(name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw new ValidationError('DECODE_ERROR', `CloudEvent is missing its ${name} attribute`);
}
