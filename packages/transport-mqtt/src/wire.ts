// SPDX-License-Identifier: Apache-2.0
// EcpsEvent <-> MQTT PUBLISH (spec §9): binary mode on MQTT 5, structured mode on MQTT 3.1.1.
import { TransportError, correlationOf, type EcpsEvent } from '@ecps/core';
import { STRUCTURED_CONTENT_TYPE, fromBinaryMode, fromStructured, toBinaryMode, toStructured, type BinaryModeMessage } from '@ecps/serialization';
import type { IPublishPacket } from 'mqtt';

export type PublishProperties = NonNullable<IPublishPacket['properties']>;

export interface WireMessage {
  payload: Buffer;
  properties: PublishProperties | undefined;
}

const asBuffer = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** The PUBLISH payload and properties of `event` for the given protocol version. */
export function encodeWire(event: EcpsEvent, protocolVersion: 4 | 5): WireMessage {
  if (protocolVersion === 4) return { payload: Buffer.from(toStructured(event)), properties: undefined };
  const binary = toBinaryMode(event);
  const properties: PublishProperties = { userProperties: binary.properties };
  if (binary.contentType) properties.contentType = binary.contentType;
  return { payload: asBuffer(binary.data), properties };
}

/**
 * Reads a received PUBLISH as an event. Structured mode when the Content Type says so, on MQTT 3.1.1, or when an
 * MQTT 5 message carries no CloudEvents user properties; binary mode otherwise.
 * Throws `DECODE_ERROR` for anything that is not a CloudEvents 1.0 event.
 */
export function decodeWire(payload: Buffer, properties: PublishProperties | undefined): EcpsEvent {
  const data = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  // properties come from the peer: mqtt-packet hands over malformed ones as null or another type
  const contentType = typeof properties?.contentType === 'string' ? properties.contentType : undefined;
  if (contentType?.startsWith(STRUCTURED_CONTENT_TYPE)) return fromStructured(data);
  const user: unknown = properties?.userProperties;
  if (typeof user !== 'object' || user === null || (user as Record<string, unknown>)['specversion'] === undefined) return fromStructured(data);
  const message: BinaryModeMessage = { properties: singleValued(user as Record<string, unknown>), data };
  if (contentType) message.contentType = contentType;
  return fromBinaryMode(message);
}

/**
 * A repeated user property arrives as an array; CloudEvents attributes are single-valued, so the first wins. A
 * property mqtt-packet could not read as a string (it gives `null` for a malformed one) is left out.
 */
function singleValued(user: Record<string, unknown>): Record<string, string> {
  let flat: Record<string, string> | undefined;
  for (const name in user) {
    const value = user[name];
    if (typeof value === 'string') continue;
    flat ??= { ...(user as Record<string, string>) };
    const first = Array.isArray(value) ? value[0] : undefined;
    if (typeof first === 'string') flat[name] = first;
    else delete flat[name];
  }
  return flat ?? (user as Record<string, string>);
}

export interface ReceiveLimits {
  /** Largest PUBLISH payload (checked before decoding). */
  maxWireBytes: number;
  /** Largest event `data` (checked after decoding). */
  maxPayloadSize: number;
}

/**
 * Reads a received PUBLISH as an event within `limits`: the payload size before anything is decoded, the event
 * `data` size after. Correlation Data without a `correlationid` extension (plain MQTT 5 requesters such as
 * mosquitto_rr) becomes that extension. Throws `MESSAGE_TOO_LARGE` or, from {@link decodeWire}, `DECODE_ERROR`.
 */
export function readPublish(payload: Buffer, properties: PublishProperties | undefined, limits: ReceiveLimits): EcpsEvent {
  if (payload.length > limits.maxWireBytes) {
    throw new TransportError('MESSAGE_TOO_LARGE', `received payload of ${payload.length} bytes exceeds ${limits.maxWireBytes}`, {
      details: { size: payload.length, limit: limits.maxWireBytes },
    });
  }
  let event = decodeWire(payload, properties);
  if (event.data.length > limits.maxPayloadSize) {
    throw new TransportError('MESSAGE_TOO_LARGE', `received event data of ${event.data.length} bytes exceeds ${limits.maxPayloadSize}`, {
      details: { size: event.data.length, limit: limits.maxPayloadSize },
    });
  }
  const correlationData = properties?.correlationData;
  if (Buffer.isBuffer(correlationData) && correlationOf(event) === undefined) {
    event = { ...event, extensions: { ...event.extensions, correlationid: correlationData.toString('utf8') } };
  }
  return event;
}

/**
 * Whether a requester's MQTT 5 Response Topic may be answered on: only a concrete topic under `prefix` (any
 * concrete topic when the prefix is empty), never a `$` system topic, never a non-string. Replies never leave the
 * prefix.
 */
export function isAllowedResponseTopic(responseTopic: unknown, prefix: string): responseTopic is string {
  // mqtt-packet hands over a malformed string property as null
  if (typeof responseTopic !== 'string') return false;
  if (!responseTopic.startsWith(prefix) || responseTopic.length === prefix.length || responseTopic.startsWith('$')) return false;
  return !/[+#\0]/.test(responseTopic);
}
