// SPDX-License-Identifier: Apache-2.0
// The two transport contracts. A PeatLink moves opaque bytes between node ids (what a binding to MQTT, gRPC,
// DDS or memory implements: one small file each). A PeatTransport, built over a link by `meshTransport`, carries
// frames between authenticated peers: `peerUp` fires only after the mutual handshake.
import type { Frame } from '../frame';

/** Receives what a link delivers. */
export interface LinkHandler {
  /** Bytes from `from` (a node id the binding vouches for as well as it can: a topic, a stream, a DDS sample). */
  message(from: string, data: Uint8Array): void;
  /** The binding learned that `peer` is reachable (a stream opened); optional, announcements also find peers. */
  reachable?(peer: string): void;
  /** The binding lost its path to `peer` (a stream closed). */
  unreachable?(peer: string): void;
}

/** Point-to-point and broadcast delivery of byte strings between node ids. */
export interface PeatLink {
  /** Our node id on this link. */
  readonly nodeId: string;
  /** Largest message the binding carries. */
  readonly maxMessageBytes: number;
  start(handler: LinkHandler): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when the binding accepted the message (e.g. MQTT PUBACK); rejects when it could not. */
  send(to: string, data: Uint8Array): Promise<void>;
  /** To every link (no scope), or to the links that joined `scope`. */
  broadcast(data: Uint8Array, scope?: string): Promise<void>;
  /**
   * Joins a broadcast scope, e.g. a geohash cell: broadcasts to it reach every link that joined it, so discovery
   * stays local at any fleet size. Optional: a link without scopes broadcasts to everyone.
   */
  joinScope?(scope: string): Promise<void>;
  leaveScope?(scope: string): Promise<void>;
}

/** Frames between authenticated peers (spec §6.3 transport interface). */
export interface PeatTransport {
  readonly nodeId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once the link accepted the frame (after retries); rejects `QUEUE_FULL`, `UNAVAILABLE`, `NOT_CONNECTED`. */
  send(peer: string, frame: Frame): Promise<void>;
  /** To every authenticated peer. */
  broadcast(frame: Frame): Promise<void>;
  onFrame(handler: (peer: string, frame: Frame) => void): void;
  onPeerUp(handler: (peer: string) => void): void;
  onPeerDown(handler: (peer: string) => void): void;
  /** Authenticated peers, sorted. */
  peers(): string[];
}
