// SPDX-License-Identifier: Apache-2.0
// The router side of the gRPC bus (proto/ecps/ext/v1/bus.proto): one bidirectional stream per node; the router
// matches topics with MQTT wildcard rules and writes each event once to every node with a matching subscription.
import type * as grpc from '@grpc/grpc-js';
import { TransportError, ValidationError, assertTopic, assertTopicFilter, isEcpsError, silentLogger, topicMatches, type Logger } from '@ecps/core';
import { BusService, type BusAck, type BusClientFrame, type BusEvent, type BusServerFrame } from '@ecps/proto/ext/v1';
import { maxMessageSizeFor } from './channel-options';
import { bindGrpcServer, createGrpcServer, type GrpcServerOptions, type StartedGrpcServer } from './server';

/** Frame headroom above the transport's payload limit for the CloudEvents attributes of a bus frame. */
export const BUS_FRAME_HEADROOM_BYTES = 64 * 1024;

export interface BusRouterOptions {
  /** Frames a node may have unsent before RELIABLE publishes to it fail with `QUEUE_FULL`. Default 65536. */
  reliableQueueLimit?: number;
  /** Frames a node may have unsent before BEST_EFFORT events to it are dropped. Default 1024. */
  bestEffortQueueLimit?: number;
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
}

/** The bus router; attach it to any grpc-js server with {@link addBusService}. */
export class BusRouter {
  readonly stats: BusRouterStats = { connections: 0, routed: 0, dropped: 0 };
  private readonly connections = new Set<Connection>();
  private readonly reliableLimit: number;
  private readonly bestEffortLimit: number;
  private readonly logger: Logger;

  constructor(options: BusRouterOptions = {}) {
    this.reliableLimit = options.reliableQueueLimit ?? 65_536;
    this.bestEffortLimit = options.bestEffortQueueLimit ?? 1024;
    this.logger = options.logger ?? silentLogger;
  }

  /** @internal the grpc-js handler of `Bus.Connect` */
  readonly connect = (call: BusCall): void => {
    const connection: Connection = { nodeId: undefined, call, subscriptions: new Map() };
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
        this.hello(connection, f.value.nodeId);
        break;
      case 'subscribe':
        this.answer(connection, f.value.seq, () => {
          assertTopicFilter(f.value.filter);
          connection.subscriptions.set(f.value.subscriptionId, { filter: f.value.filter, qos: f.value.qos });
        });
        break;
      case 'unsubscribe':
        this.answer(connection, f.value.seq, () => void connection.subscriptions.delete(f.value.subscriptionId));
        break;
      case 'publish':
        this.answer(connection, f.value.seq, () => {
          if (!f.value.event) throw new ValidationError('INVALID_ARGUMENT', 'publish without an event');
          this.route(f.value.topic, f.value.event, f.value.qos);
        });
        break;
      default:
        break;
    }
  }

  private hello(connection: Connection, nodeId: string): void {
    // A node that reconnects before its old stream timed out replaces it: the old one is half-open or dead.
    for (const other of this.connections) {
      if (other !== connection && other.nodeId === nodeId) {
        this.connections.delete(other);
        if (!other.call.writableEnded) other.call.end();
      }
    }
    this.stats.connections = this.connections.size;
    connection.nodeId = nodeId;
    this.logger.debug('bus node connected', { nodeId });
    this.write(connection, { frame: { $case: 'ack', value: { seq: 0n, success: true, code: '', message: 'hello' } } });
  }

  /** Runs `action` and acks `seq` (0 = the sender wants no ack) with its outcome. */
  private answer(connection: Connection, seq: bigint, action: () => void): void {
    let ack: BusAck = { seq, success: true, code: '', message: '' };
    try {
      action();
    } catch (error) {
      const code = isEcpsError(error) ? error.code : 'INTERNAL';
      ack = { seq, success: false, code, message: (error as Error).message };
    }
    if (seq !== 0n) this.write(connection, { frame: { $case: 'ack', value: ack } });
  }

  /**
   * Writes the event once to every node with matching subscriptions. RELIABLE bounds are checked for every
   * recipient first, so a `QUEUE_FULL` rejection reaches nobody and the publisher may retry without duplicates.
   */
  private route(topic: string, event: BusEvent, qos: number): void {
    assertTopic(topic);
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
