// SPDX-License-Identifier: Apache-2.0
// Raft messages on direct TCP connections between members, as etcd's peer streams: each member dials every peer it
// sends to and writes length-prefixed `RaftMessage` frames on that connection; it reads the frames its peers write on
// the connections they dialed. The first frame of a connection is a hello naming the cluster and the dialer. With TLS
// (mutual), a connection belongs to the member named in its certificate, and every message on it must come from that
// member. No broker hop: a message is one write and one read.
import { createServer as netServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { createServer as tlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { metrics } from '@opentelemetry/api';
import type { Meter } from '@opentelemetry/api';
import { silentLogger, systemClock } from '@ecps/core';
import type { Clock, Logger } from '@ecps/core';
import { RaftMessage, RaftMessageType } from '@ecps/proto/ext/v1';
import { decodeRaftMessage, encodeRaftMessage, peerWarner } from '@ecps/raft';
import type { Message, NodeId, RaftNetwork } from '@ecps/raft';
import { assertAddress, certificateNames, dial, frame, frames, readFrames } from './framing';
import type { TcpTlsOptions } from './framing';

export interface TcpRaftNetworkOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  /** Where this member listens; port 0 picks a free one (see `address`). */
  readonly listen: { readonly host: string; readonly port: number };
  /** The other members' addresses, `host:port` (change them with `setPeer`). */
  readonly peers: Readonly<Record<NodeId, string>>;
  readonly tls?: TcpTlsOptions;
  /** Largest frame sent or accepted; Raft cuts appends and snapshot chunks to fit. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  /** Bytes queued for one peer (not yet taken by the kernel) beyond which messages to it are dropped. Default 32 MiB. */
  readonly maxQueuedBytes?: number;
  /** Reconnection backoff. Default 20 ms doubling to 1000 ms. */
  readonly reconnectDelayMs?: { readonly initial: number; readonly max: number };
  readonly logger?: Logger;
  /** OpenTelemetry meter (default `metrics.getMeter('@ecps/raft-tcp')`). */
  readonly meter?: Meter;
  readonly clock?: Clock;
}

/** A {@link RaftNetwork} with the address it listens on and peers that can change (membership changes). */
export interface TcpRaftNetwork extends RaftNetwork {
  /** The bound address once started. */
  readonly address: { readonly host: string; readonly port: number } | undefined;
  /** Sets (or, with undefined, forgets) the address of a peer. */
  setPeer(id: NodeId, address: string | undefined): void;
}


interface Peer {
  readonly id: NodeId;
  address: string;
  socket: Socket | undefined;
  connected: boolean;
  /** Frames waiting for the connection. */
  pending: Uint8Array[];
  pendingBytes: number;
  retryAt: number;
  delay: number;
}

function hello(from: NodeId, to: NodeId, clusterId: string): Uint8Array {
  return RaftMessage.encode(RaftMessage.fromPartial({ type: RaftMessageType.RAFT_MESSAGE_TYPE_UNSPECIFIED, from, to, clusterId })).finish();
}

/**
 * A {@link RaftNetwork} on direct TCP (or mutual TLS) connections. Messages to a peer that is down or too far behind
 * (`maxQueuedBytes`) are dropped; every drop, refused connection and bad frame is a warning (rate-limited per peer)
 * and a count in `ecps.raft.tcp.dropped` (`reason`, `direction`).
 * @throws EcpsError `INVALID_ARGUMENT` for a bad peer address (`host:port`).
 */
export function tcpRaftNetwork(options: TcpRaftNetworkOptions): TcpRaftNetwork {
  const { nodeId, clusterId } = options;
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
  const maxQueued = options.maxQueuedBytes ?? 32 * 1024 * 1024;
  const backoff = options.reconnectDelayMs ?? { initial: 20, max: 1_000 };
  const dropped = (options.meter ?? metrics.getMeter('@ecps/raft-tcp')).createCounter('ecps.raft.tcp.dropped', {
    description: 'Raft messages or connections dropped by the TCP peer network',
  });
  const warn = peerWarner(logger, clock, nodeId);
  const drop = (peer: string, direction: 'in' | 'out', reason: string, message: string, fields: Record<string, unknown> = {}) => {
    dropped.add(1, { direction, reason });
    warn(peer, message, { reason, ...fields });
  };

  const peers = new Map<NodeId, Peer>();
  const inbound = new Set<Socket>();
  let server: Server | undefined;
  let address: { host: string; port: number } | undefined;
  let closed = false;
  let deliver: (m: Message) => void = () => {};

  const setPeer = (id: NodeId, addr: string | undefined) => {
    const old = peers.get(id);
    if (addr === undefined) {
      old?.socket?.destroy();
      peers.delete(id);
      return;
    }
    assertAddress(addr);
    if (old && old.address === addr) return;
    old?.socket?.destroy();
    peers.set(id, { id, address: addr, socket: undefined, connected: false, pending: [], pendingBytes: 0, retryAt: 0, delay: backoff.initial });
  };
  for (const [id, addr] of Object.entries(options.peers)) if (id !== nodeId) setPeer(id, addr);

  /** An inbound connection: a hello, then messages from that member only. */
  const accept = (socket: Socket) => {
    inbound.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => inbound.delete(socket));
    socket.on('error', () => undefined);
    const certified = options.tls ? certificateNames((socket as TLSSocket).getPeerCertificate()) : undefined;
    let peer: NodeId | undefined;
    readFrames(
      socket,
      maxMessageBytes,
      () => {
        drop(peer ?? socket.remoteAddress ?? 'unknown', 'in', 'FRAME_TOO_LARGE', 'closing a connection that sent an oversize frame');
      },
      (payload) => {
        let w: RaftMessage;
        if (peer === undefined) {
          try {
            w = RaftMessage.decode(payload);
          } catch {
            drop('unknown', 'in', 'DECODE_ERROR', 'closing a connection without a valid hello');
            return false;
          }
          if (w.clusterId !== clusterId || w.to !== nodeId || w.from === '' || (certified && !certified.includes(w.from))) {
            drop(w.from || 'unknown', 'in', certified ? 'UNAUTHENTICATED' : 'WRONG_CLUSTER', 'refusing a connection whose hello does not match', {
              cluster: w.clusterId,
              to: w.to,
            });
            return false;
          }
          peer = w.from;
          return true;
        }
        let decoded: { message: Message; clusterId: string };
        try {
          decoded = decodeRaftMessage(payload);
        } catch (error) {
          drop(peer, 'in', 'DECODE_ERROR', 'dropping an undecodable raft message', { error: String(error) });
          return true;
        }
        const { message } = decoded;
        // a connection speaks for the member that opened it (and, with TLS, holds its certificate)
        if (message.from !== peer || message.to !== nodeId || decoded.clusterId !== clusterId) {
          drop(peer, 'in', 'WRONG_SENDER', 'dropping a raft message not from the connection’s member', { from: message.from, to: message.to });
          return true;
        }
        deliver(message);
        return true;
      },
    );
  };

  const connectPeer = (p: Peer) => {
    const id = p.id;
    const now = clock.monotonic();
    if (p.socket || now < p.retryAt || closed) return;
    const tls = options.tls;
    const socket = dial(p.address, tls, id);
    p.socket = socket;
    socket.setNoDelay(true);
    const ready = () => {
      if (p.socket !== socket) return;
      p.connected = true;
      p.delay = backoff.initial;
      socket.cork();
      socket.write(frame(hello(nodeId, id, clusterId)));
      for (const f of p.pending) socket.write(f);
      socket.uncork();
      p.pending = [];
      p.pendingBytes = 0;
    };
    socket.once(tls ? 'secureConnect' : 'connect', ready);
    socket.on('error', (error: Error) => {
      if (p.socket === socket) warn(id, 'raft peer connection failed', { address: p.address, error: String(error) });
    });
    socket.on('close', () => {
      if (p.socket !== socket) return;
      p.socket = undefined;
      p.connected = false;
      p.retryAt = clock.monotonic() + p.delay;
      p.delay = Math.min(backoff.max, p.delay * 2);
      if (p.pendingBytes > 0) {
        drop(id, 'out', 'UNAVAILABLE', 'raft messages not sent: the peer is unreachable', { messages: p.pending.length });
        p.pending = [];
        p.pendingBytes = 0;
      }
    });
    // inbound data on an outbound connection is not part of the protocol
    socket.on('data', () => undefined);
  };

  return {
    maxMessageBytes,
    get address() {
      return address;
    },
    setPeer,
    async start(onMessage) {
      deliver = onMessage;
      const srv = options.tls
        ? tlsServer({ key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca as string[], requestCert: true, rejectUnauthorized: true }, accept)
        : netServer(accept);
      server = srv;
      srv.on('error', (error) => logger.warn('raft listener error', { node: nodeId, error: String(error) }));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(options.listen.port, options.listen.host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      const a = srv.address();
      if (a && typeof a === 'object') address = { host: a.address, port: a.port };
    },
    send(messages) {
      const batches = new Map<Peer, Uint8Array[]>();
      for (const m of messages) {
        const p = peers.get(m.to);
        if (!p) {
          drop(m.to, 'out', 'NOT_FOUND', 'raft message for a peer without an address', { type: m.type });
          continue;
        }
        const bytes = encodeRaftMessage(m, clusterId);
        if (bytes.length > maxMessageBytes) {
          drop(m.to, 'out', 'MESSAGE_TOO_LARGE', 'raft message larger than the frame limit', { type: m.type, bytes: bytes.length });
          continue;
        }
        const queued = p.connected ? (p.socket?.writableLength ?? 0) : p.pendingBytes;
        if (queued + bytes.length > maxQueued) {
          drop(m.to, 'out', 'QUEUE_FULL', 'raft message dropped: the peer is too far behind', { type: m.type, queued });
          continue;
        }
        const list = batches.get(p) ?? [];
        list.push(bytes);
        batches.set(p, list);
      }
      for (const [p, payloads] of batches) {
        // one buffer and one write for the batch
        const batch = frames(payloads);
        if (p.connected && p.socket) {
          p.socket.write(batch);
          continue;
        }
        if (!p.socket && clock.monotonic() < p.retryAt) {
          drop(p.id, 'out', 'UNAVAILABLE', 'raft messages not sent: the peer is unreachable', { messages: payloads.length });
          continue;
        }
        p.pending.push(batch);
        p.pendingBytes += batch.length;
        connectPeer(p);
      }
    },
    async close() {
      closed = true;
      for (const p of peers.values()) p.socket?.destroy();
      for (const s of inbound) s.destroy();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
