// SPDX-License-Identifier: Apache-2.0
// EcpsEvent <-> MQTT PUBLISH (spec §9): binary mode on MQTT 5, structured mode on MQTT 3.1.1.
import type { EcpsEvent } from '@ecps/core';
import { STRUCTURED_CONTENT_TYPE, fromBinaryMode, fromStructured, toBinaryMode, toStructured } from '@ecps/serialization';
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
  const contentType = properties?.contentType;
  if (contentType?.startsWith(STRUCTURED_CONTENT_TYPE)) return fromStructured(data);
  const user = properties?.userProperties;
  if (!user || user['specversion'] === undefined) return fromStructured(data);
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(user)) {
    // A repeated user property arrives as an array; CloudEvents attributes are single-valued, the first wins.
    flat[name] = Array.isArray(value) ? (value[0] ?? '') : value;
  }
  return fromBinaryMode({ ...(contentType ? { contentType } : {}), properties: flat, data });
}
