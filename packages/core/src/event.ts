// SPDX-License-Identifier: Apache-2.0
// The unit every transport carries: a CloudEvents 1.0 event whose data is (usually) protobuf bytes (spec §9).

/** A CloudEvent as ECPS carries it. Transports map it to their wire (MQTT properties, JSON, DDS envelope, gRPC). */
export interface EcpsEvent {
  /** CloudEvents `id`: the MCP/EAP message id, else a UUID v4. */
  readonly id: string;
  /** `urn:ecps:<node-id>`. */
  readonly source: string;
  /** One of {@link EVENT_TYPES} or an `ecps.ext.*` type. */
  readonly type: string;
  /** RFC 3339 UTC. */
  readonly time?: string;
  /** Defaults to `application/protobuf`. */
  readonly datacontenttype?: string;
  /** `traceparent`, `tracestate`, `correlationid` and any other extension attributes. */
  readonly extensions?: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}

export const CLOUDEVENTS_SPEC_VERSION = '1.0';
export const PROTOBUF_CONTENT_TYPE = 'application/protobuf';

/** CloudEvents `type` per ECPS message (spec §9). */
export const EVENT_TYPES = {
  mcp: 'ecps.mcp.prompt',
  ltp: 'ecps.ltp.tensor',
  ltpChunk: 'ecps.ltp.chunk',
  ltpAck: 'ecps.ltp.ack',
  eap: 'ecps.eap.action',
  mepQuery: 'ecps.mep.query',
  mepAck: 'ecps.mep.ack',
  streamEnd: 'ecps.stream.end',
} as const;

/** Types used by the RPC layer over publish/subscribe. */
export const RPC_EVENT_TYPES = {
  /** Sent by a requester to stop a server stream early. */
  streamCancel: 'ecps.ext.stream.cancel',
} as const;

/** True for types a receiver must ignore (the reference SDK's `ecps.unknown.<name>` fallback). */
export function isIgnoredEventType(type: string): boolean {
  return type.startsWith('ecps.unknown.');
}

/** Attribute names with a fixed meaning; everything else on the wire is an extension. */
export const CORE_ATTRIBUTES = ['specversion', 'id', 'source', 'type', 'time', 'datacontenttype'] as const;

/** Extension attribute names must be lowercase alphanumeric (CloudEvents 1.0). */
export function isValidExtensionName(name: string): boolean {
  return /^[a-z0-9]{1,20}$/.test(name);
}

/** The current time as CloudEvents wants it: RFC 3339 UTC with milliseconds. */
export function eventTime(ms: number): string {
  return new Date(ms).toISOString();
}
