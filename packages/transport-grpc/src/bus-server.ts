// SPDX-License-Identifier: Apache-2.0
// The router side of the gRPC bus (proto/ecps/ext/v1/bus.proto): one bidirectional stream per node; the router
// matches topics with MQTT wildcard rules and writes each event once to every node with a matching subscription.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import {
  TransportError,
  ValidationError,
  assertNodeId,
  assertTopic,
  assertTopicFilter,
  isEcpsError,
  silentLogger,
  topicMatches,
  type EcpsErrorCode,
  type Logger,
} from '@ecps/core';
import { BusService, type BusAck, type BusClientFrame, type BusEvent, type BusServerFrame } from '@ecps/proto/ext/v1';
import { maxMessageSizeFor } from './channel-options';
import { bindGrpcServer, createGrpcServer, type GrpcServerOptions, type StartedGrpcServer } from './server';

/** Frame headroom above the transport's payload limit for the CloudEvents attributes of a bus frame. */
export const BUS_FRAME_HEADROOM_BYTES = 64 * 1024;

/** What one node may do on the bus: MQTT-style filters (`+`, `#`) over full topics (prefix included). */
export interface BusAcl {
  /** Topics the node may publish to (a topic must match one filter). Default: none. */
  readonly publish?: readonly string[];
  /** What the node may subscribe to (a requested filter must lie within one of these). Default: none. */
  readonly subscribe?: readonly string[];
}

export interface BusRouterOptions {
  /** Frames a node may have unsent before RELIABLE publishes to it fail with `QUEUE_FULL`. Default 65536. */
  reliableQueueLimit?: number;
  /** Frames a node may have unsent before BEST_EFFORT events to it are dropped. Default 1024. */
  bestEffortQueueLimit?: number;
  /**
   * Per node id, what it may publish and subscribe to; `'*'` applies to ids without an entry. With an ACL, a node
   * without an entry (and no `'*'`) may do nothing. Refusals are acknowledged with `PERMISSION_DENIED`. Default: no ACL.
   */
  acl?: Readonly<Record<string, BusAcl>>;
  /**
   * The node ids a verified client certificate may speak for (mutual TLS). Default: its subject CN, and every
   * `URI:urn:ecps:<id>` and `DNS:<id>` subject alternative name.
   */
  certificateIdentities?: (certificate: PeerCertificate) => readonly string[];
  logger?: Logger;
}

export interface BusRouterStats {
  connections: number;
  routed: number;
  /** BEST_EFFORT deliveries dropped because the receiving node was not reading. */
  dropped: number;
}

type BusCall = grpc.ServerDuplexStream<BusClientFrame, BusServerFrame>;

interface Connection {
  nodeId: string | undefined;
  call: BusCall;
  subscriptions: Map<number, { filter: string; qos: number }>;
  /** Node ids the client certificate of this connection speaks for; undefined without mutual TLS. */
  certified: readonly string[] | undefined;
  /** Secret given at hello: presented by this node's next connection to take over from this one. */
  resumeToken: Buffer | undefined;
}

/** The default certificate identities: subject CN, `URI:urn:ecps:<id>` and `DNS:<id>` alternative names. */
export function defaultCertificateIdentities(certificate: PeerCertificate): readonly string[] {
  const ids: string[] = [];
  const cn = certificate.subject?.CN;
  if (typeof cn === 'string') ids.push(cn);
  for (const name of (certificate.subjectaltname ?? '').split(',').map((n) => n.trim())) {
    if (name.startsWith('URI:urn:ecps:')) ids.push(name.slice('URI:urn:ecps:'.length));
    else if (name.startsWith('DNS:')) ids.push(name.slice('DNS:'.length));
  }
  return ids;
}

/** True when every topic `requested` matches also matches `allowed` (so a subscription stays within an ACL). */
function filterWithin(allowed: string, requested: string): boolean {
  const a = allowed.split('/');
  const r = requested.split('/');
  for (let i = 0; i < r.length; i++) {
    if (a[i] === '#') return true;
    if (a[i] === undefined || r[i] === '#') return false;
    if (a[i] !== '+' && a[i] !== r[i]) return false;
  }
  return a.length === r.length || (a.length === r.length + 1 && a[r.length] === '#');
}


/** The bus router; attach it to any grpc-js server with {@link addBusService}. */
export class BusRouter {
  readonly stats: BusRouterStats = { connections: 0, routed: 0, dropped: 0 };
  private readonly connections = new Set<Connection>();
  private readonly reliableLimit: number;
  private readonly bestEffortLimit: number;
  private readonly logger: Logger;

  constructor(private readonly options: BusRouterOptions = {}) {
    this.reliableLimit = options.reliableQueueLimit ?? 65_536;
    this.bestEffortLimit = options.bestEffortQueueLimit ?? 1024;
    this.logger = options.logger ?? silentLogger;
  }

  /** @internal the grpc-js handler of `Bus.Connect` */
  readonly connect = (call: BusCall): void => {
    const certificate = call.getAuthContext?.()?.sslPeerCertificate;
    const certified =
      certificate && Object.keys(certificate).length > 0 ? (this.options.certificateIdentities ?? defaultCertificateIdentities)(certificate) : undefined;
    const connection: Connection = { nodeId: undefined, call, subscriptions: new Map(), certified, resumeToken: undefined };
    this.connections.add(connection);
    this.stats.connections = this.connections.size;
    const drop = () => {
      if (!this.connections.delete(connection)) return;
      this.stats.connections = this.connections.size;
      this.logger.debug('bus node disconnected', { nodeId: connection.nodeId });
      if (!call.writableEnded) call.end();
    };
    call.on('data', (frame: BusClientFrame) => this.onFrame(connection, frame));
    call.on('end', drop);
    call.on('error', drop);
    call.on('cancelled', drop);
    call.on('close', drop);
  };

  /** Ends every node's stream (each node then reconnects, elsewhere or after a restart). */
  disconnectAll(): void {
    for (const c of [...this.connections]) {
      this.connections.delete(c);
      if (!c.call.writableEnded) c.call.end();
    }
    this.stats.connections = 0;
  }

  private onFrame(connection: Connection, frame: BusClientFrame): void {
    const f = frame.frame;
    switch (f?.$case) {
      case 'hello':
        this.hello(connection, f.value.nodeId, f.value.resumeToken);
        break;
      case 'subscribe':
        this.answer(connection, f.value.seq, (nodeId) => {
          assertTopicFilter(f.value.filter);
          if (!this.allowed(nodeId, 'subscribe', f.value.filter)) throw new TransportError('PERMISSION_DENIED', `${nodeId} may not subscribe to ${f.value.filter}`);
          connection.subscriptions.set(f.value.subscriptionId, { filter: f.value.filter, qos: f.value.qos });
        });
        break;
      case 'unsubscribe':
        this.answer(connection, f.value.seq, () => void connection.subscriptions.delete(f.value.subscriptionId));
        break;
      case 'publish':
        this.answer(connection, f.value.seq, (nodeId) => {
          if (!f.value.event) throw new ValidationError('INVALID_ARGUMENT', 'publish without an event');
          assertTopic(f.value.topic);
          if (!this.allowed(nodeId, 'publish', f.value.topic)) throw new TransportError('PERMISSION_DENIED', `${nodeId} may not publish to ${f.value.topic}`);
          this.route(f.value.topic, f.value.event, f.value.qos);
        });
        break;
      default:
        break;
    }
  }

  /**
   * Binds `nodeId` to this connection. Refused (and the stream ended) when the id is malformed, when a verified
   * client certificate does not name it, or when another connection holds it and this one can prove neither that
   * it is the same node (the resume token of that connection) nor that it owns the id (a certificate naming it).
   */
  private hello(connection: Connection, nodeId: string, resumeToken: Uint8Array): void {
    const refuse = (code: EcpsErrorCode, message: string) => {
      this.logger.warn('bus hello refused', { nodeId, code, message });
      this.write(connection, { frame: { $case: 'ack', value: { seq: 0n, success: false, code, message, resumeToken: new Uint8Array(0) } } });
      this.connections.delete(connection);
      this.stats.connections = this.connections.size;
      if (!connection.call.writableEnded) connection.call.end();
    };
    if (connection.nodeId !== undefined) return refuse('INVALID_ARGUMENT', 'this stream has already said hello');
    try {
      assertNodeId(nodeId);
    } catch (error) {
      return refuse('INVALID_ARGUMENT', (error as Error).message);
    }
    if (connection.certified && !connection.certified.includes(nodeId)) {
      return refuse('UNAUTHENTICATED', `the client certificate does not name node ${nodeId}`);
    }
    for (const other of this.connections) {
      if (other === connection || other.nodeId !== nodeId) continue;
      const sameNode = other.resumeToken !== undefined && resumeToken.length === other.resumeToken.length && timingSafeEqual(other.resumeToken, resumeToken);
      if (!sameNode && !connection.certified) return refuse('ALREADY_EXISTS', `node ${nodeId} is already connected`);
      // The same node reconnecting before its old stream timed out: the old one is half-open or dead.
      this.connections.delete(other);
      if (!other.call.writableEnded) other.call.end();
    }
    this.stats.connections = this.connections.size;
    connection.nodeId = nodeId;
    connection.resumeToken = randomBytes(32);
    this.logger.debug('bus node connected', { nodeId });
    this.write(connection, { frame: { $case: 'ack', value: { seq: 0n, success: true, code: '', message: 'hello', resumeToken: connection.resumeToken } } });
  }

  private allowed(nodeId: string, action: 'publish' | 'subscribe', target: string): boolean {
    const acl = this.options.acl;
    if (!acl) return true;
    const entry = Object.hasOwn(acl, nodeId) ? acl[nodeId] : acl['*'];
    const filters = entry?.[action] ?? [];
    return action === 'publish' ? filters.some((f) => topicMatches(f, target)) : filters.some((f) => filterWithin(f, target));
  }

  /** Runs `action` for the connection's node and acks `seq` (0 = the sender wants no ack) with its outcome. */
  private answer(connection: Connection, seq: bigint, action: (nodeId: string) => void): void {
    let ack: BusAck = { seq, success: true, code: '', message: '', resumeToken: new Uint8Array(0) };
    try {
      if (connection.nodeId === undefined) throw new TransportError('UNAUTHENTICATED', 'say hello first');
      action(connection.nodeId);
    } catch (error) {
      const code = isEcpsError(error) ? error.code : 'INTERNAL';
      ack = { seq, success: false, code, message: (error as Error).message, resumeToken: new Uint8Array(0) };
    }
    if (seq !== 0n) this.write(connection, { frame: { $case: 'ack', value: ack } });
  }

  /**
   * Writes the event once to every node with matching subscriptions. RELIABLE bounds are checked for every
   * recipient first, so a `QUEUE_FULL` rejection reaches nobody and the publisher may retry without duplicates.
   */
  private route(topic: string, event: BusEvent, qos: number): void {
    const targets: Array<{ connection: Connection; ids: number[]; qos: number }> = [];
    for (const connection of this.connections) {
      if (connection.nodeId === undefined) continue;
      let ids: number[] | undefined;
      let subQos = 0;
      for (const [id, sub] of connection.subscriptions) {
        if (!topicMatches(sub.filter, topic)) continue;
        (ids ??= []).push(id);
        subQos = Math.max(subQos, sub.qos);
      }
      if (!ids) continue;
      const effective = Math.min(qos, subQos);
      if (effective > 0 && connection.call.writableLength >= this.reliableLimit) {
        throw new TransportError('QUEUE_FULL', `node ${connection.nodeId} has ${connection.call.writableLength} unsent frames`);
      }
      targets.push({ connection, ids, qos: effective });
    }
    for (const t of targets) {
      if (t.qos === 0 && t.connection.call.writableLength >= this.bestEffortLimit) {
        this.stats.dropped++;
        continue;
      }
      this.write(t.connection, { frame: { $case: 'delivery', value: { subscriptionIds: t.ids, topic, event, qos: t.qos } } });
      this.stats.routed++;
    }
  }

  private write(connection: Connection, frame: BusServerFrame): void {
    if (!connection.call.writableEnded && !connection.call.destroyed) connection.call.write(frame);
  }
}

/** Adds the `ecps.ext.v1.Bus` service, routed by `router`, to a grpc-js server. */
export function addBusService(server: grpc.Server, router: BusRouter): void {
  server.addService(BusService, { connect: router.connect });
}

export interface GrpcBusServerOptions extends GrpcServerOptions, BusRouterOptions {}

export interface GrpcBusServer extends StartedGrpcServer {
  readonly router: BusRouter;
}

/**
 * Starts a gRPC server that routes the bus between connected {@link grpcTransport}s (and serves whatever
 * `register` adds, e.g. MemoryStore). Its message bound is the payload bound plus {@link BUS_FRAME_HEADROOM_BYTES}.
 * @throws TransportError `UNAVAILABLE` when the address cannot be bound.
 */
export async function grpcBusServer(options: GrpcBusServerOptions = {}): Promise<GrpcBusServer> {
  const router = new BusRouter(options);
  const server = createGrpcServer({ ...options, maxMessageSize: maxMessageSizeFor(options) + BUS_FRAME_HEADROOM_BYTES });
  addBusService(server, router);
  options.register?.(server);
  const started = await bindGrpcServer(server, options);
  return {
    ...started,
    router,
    close: (graceMs?: number) => {
      router.disconnectAll();
      return started.close(graceMs);
    },
  };
}
