// SPDX-License-Identifier: Apache-2.0
// The Transport contract. Layer protocols (LTP, MCP, MEP, EAP, Raft, ...) reach the network only through it.
import type { EcpsEvent } from './event';
import type { RpcTopicScheme } from './rpc';

/**
 * Delivery level, numerically equal to the spec's `QoSLevel` and to the MQTT QoS it maps to:
 * 0 BEST_EFFORT (may be dropped), 1 RELIABLE (at least once), 2 PERSISTENT (exactly once where the wire allows).
 */
export type QosLevel = 0 | 1 | 2;

export interface PublishOptions {
  /** Defaults to the transport's default (RELIABLE unless configured). */
  qos?: QosLevel;
  /** Drop the message if it has not been delivered within this many seconds (where the wire supports it). */
  expirySeconds?: number;
}

export interface SubscribeOptions {
  /** The highest QoS the subscriber accepts. */
  qos?: QosLevel;
}

export interface RequestOptions {
  /** Deadline for the reply (unary) or for the whole stream. Defaults to the transport's request timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
  qos?: QosLevel;
}

/** Handles one received event. Events of one subscription are handled one at a time, in arrival order. */
export type EventHandler = (event: EcpsEvent, topic: string) => void | Promise<void>;

/** Answers one request. A thrown error reaches the requester as a `REMOTE_ERROR` with its message. */
export type RequestHandler = (request: EcpsEvent) => EcpsEvent | Promise<EcpsEvent>;

/** Produces a server stream. `signal` aborts when the requester cancels or the transport closes. */
export type StreamHandler = (request: EcpsEvent, signal: AbortSignal) => AsyncIterable<EcpsEvent>;

export interface Subscription {
  readonly filter: string;
  /** Stops delivery. Idempotent. */
  unsubscribe(): Promise<void>;
}

/**
 * A connection to an ECPS network.
 *
 * Guarantees every implementation keeps (checked by the conformance suite in `@ecps/testkit`):
 * - topic filters use MQTT `+`/`#` semantics; events from one publisher on one topic arrive in publish order;
 * - an event whose `data` exceeds {@link Transport.maxPayloadSize} is rejected with `MESSAGE_TOO_LARGE`, never truncated;
 * - RELIABLE events are never dropped silently: when a bound is hit the caller gets `QUEUE_FULL` or waits;
 * - `request` rejects with `TIMEOUT` after its deadline and `CANCELLED` when its signal aborts;
 * - a server stream ends explicitly (the iterator finishes) or with a typed error;
 * - after `close()`, every call rejects with `CLOSED` and pending requests and streams fail with `CLOSED`.
 */
export interface Transport {
  /** `memory`, `mqtt`, `grpc`, `dds`, ... */
  readonly kind: string;
  /** Largest `data` this transport accepts (profile `max_message_size` + 4096 envelope headroom unless configured). */
  readonly maxPayloadSize: number;
  /**
   * The topics this transport's request/reply uses on its own publish/subscribe, for wrappers that run request/reply
   * over it (the trust layer). Absent means the per-correlation scheme of spec §9.
   */
  readonly rpcTopics?: RpcTopicScheme;
  connect(): Promise<void>;
  publish(topic: string, event: EcpsEvent, options?: PublishOptions): Promise<void>;
  subscribe(filter: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Unary request to `service` (e.g. `MemoryStore.Put`, `ecps.ext.v1.Raft.Vote`). */
  request(service: string, request: EcpsEvent, options?: RequestOptions): Promise<EcpsEvent>;
  serve(service: string, handler: RequestHandler): Promise<Subscription>;
  /** Server-streaming request; the iterator ends when the server ends the stream. */
  requestStream(service: string, request: EcpsEvent, options?: RequestOptions): AsyncIterable<EcpsEvent>;
  serveStream(service: string, handler: StreamHandler): Promise<Subscription>;
  /** Releases every resource. Idempotent. */
  close(): Promise<void>;
}

/** Default deadline for requests: the spec's `TRANSPORT_TIMEOUT_S`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Envelope headroom added to a profile's `max_message_size` (spec §3). */
export const ENVELOPE_HEADROOM_BYTES = 4096;
