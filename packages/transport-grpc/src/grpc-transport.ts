// SPDX-License-Identifier: Apache-2.0
// The Transport contract over gRPC: one bidirectional `ecps.ext.v1.Bus/Connect` stream per node to a router
// (see bus-server.ts). Publish/subscribe are frames on that stream, acknowledged by the router for QoS >= 1;
// request/reply and server streaming compose PubSubRpc (spec §9 topic scheme) on top. The stream is reopened
// with backoff when it drops; subscriptions are restored and unacknowledged RELIABLE publishes are resent.
import * as grpc from '@grpc/grpc-js';
import {
  ERROR_CODES,
  PubSubRpc,
  TransportError,
  ValidationError,
  assertNodeId,
  assertTopic,
  assertTopicFilter,
  cryptoRandom,
  nodeSource,
  silentLogger,
  systemClock,
  type Clock,
  type EcpsErrorCode,
  type EcpsEvent,
  type EventHandler,
  type Logger,
  type PublishOptions,
  type QosLevel,
  type RandomSource,
  type RequestHandler,
  type RequestOptions,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type TimerHandle,
  type Transport,
} from '@ecps/core';
import { BusClientFrame, BusServerFrame, BusService, type BusAck } from '@ecps/proto/ext/v1';
import { attributeBytes, fromBusEvent, toBusEvent } from './bus-event';
import { BUS_FRAME_HEADROOM_BYTES } from './bus-server';
import { channelOptionsFor, clientCredentials, maxMessageSizeFor, type GrpcChannelSettings, type GrpcClientTlsOptions } from './channel-options';
import { DeliveryQueue } from './delivery-queue';
import { errorFromStatus, isServiceError } from './status';

export interface GrpcTransportOptions extends GrpcChannelSettings {
  /** The router's address, `host:port` (see `grpcBusServer`). */
  target: string;
  /** This node's id; its CloudEvents source is `urn:ecps:<nodeId>`. */
  nodeId: string;
  /** TLS or mutual TLS; plaintext without it. */
  tls?: GrpcClientTlsOptions;
  /** Largest event `data` accepted. Default: profile `max_message_size` + 4096. */
  maxPayloadSize?: number;
  /** QoS of publishes that name none. Default 1 (RELIABLE). */
  defaultQos?: QosLevel;
  /** Prepended verbatim to every topic, reply topics included (spec §9). Default empty. */
  topicPrefix?: string;
  /** Default deadline of `request`/`requestStream`. Default 30000 ms (TRANSPORT_TIMEOUT_S). */
  requestTimeoutMs?: number;
  /** How long `connect()` waits for the router. Default 10000 ms. */
  connectTimeoutMs?: number;
  /**
   * How long a RELIABLE publish, subscribe or unsubscribe waits for the router's acknowledgement, time spent
   * reconnecting included. Default 30000 ms. A publish's `expirySeconds` shortens it.
   */
  ackTimeoutMs?: number;
  /** Unacknowledged RELIABLE operations (sent or waiting for a connection) before publish fails with `QUEUE_FULL`. Default 10000. */
  maxInFlight?: number;
  /** Unsent BEST_EFFORT frames after which further BEST_EFFORT publishes are dropped. Default 1024. */
  bestEffortQueueLimit?: number;
  /** Received events buffered for slow handlers before the node stops reading (the router then pushes back). Default 4096. */
  receiveHighWater?: number;
  /** PERSISTENT (QoS 2) deliveries remembered by CloudEvents `source` + `id` to drop resent duplicates. Default 16384. */
  dedupeWindow?: number;
  /** Reconnect backoff: first delay and cap, doubled per attempt with jitter. Default 100 ms and 5000 ms. */
  reconnectDelayMs?: { initial?: number; max?: number };
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
  /** Called when a subscription handler throws; delivery continues. */
  onHandlerError?: (error: unknown, topic: string) => void;
}

export interface GrpcTransportStats {
  published: number;
  received: number;
  /** BEST_EFFORT events dropped locally (no connection, or the send buffer was full). */
  dropped: number;
  /** Reconnection attempts scheduled after a failed connection or a drop. */
  reconnects: number;
  /** PERSISTENT deliveries dropped as duplicates of one already delivered. */
  duplicates: number;
}

/** A {@link Transport} over the gRPC bus, with its connection state and counters. */
export interface GrpcTransport extends Transport {
  readonly kind: 'grpc';
  /** True while the bus stream is open and the router has greeted this node. */
  readonly connected: boolean;
  readonly stats: Readonly<GrpcTransportStats>;
}

interface PendingOp {
  frame: BusClientFrame;
  resolve: () => void;
  reject: (error: unknown) => void;
  timer: TimerHandle;
}

interface LocalSubscription {
  filter: string;
  qos: number;
  queue: DeliveryQueue;
  /** Acknowledged by the router at least once: restored after every reconnect. */
  established: boolean;
}

type BusStream = grpc.ClientDuplexStream<BusClientFrame, BusServerFrame>;

const codeSet: ReadonlySet<string> = new Set(ERROR_CODES);
const serializeFrame = (frame: BusClientFrame): Buffer => {
  const bytes = BusClientFrame.encode(frame).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
const deserializeFrame = (bytes: Buffer): BusServerFrame => BusServerFrame.decode(bytes);

class GrpcBusTransport implements GrpcTransport {
  readonly kind = 'grpc' as const;
  readonly maxPayloadSize: number;
  readonly stats: GrpcTransportStats = { published: 0, received: 0, dropped: 0, reconnects: 0, duplicates: 0 };
  private readonly client: grpc.Client;
  private readonly rpc: PubSubRpc;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly pending = new Map<bigint, PendingOp>();
  private readonly subscriptions = new Map<number, LocalSubscription>();
  /** Recently delivered PERSISTENT events (`source` NUL `id`), oldest first. */
  private readonly recentPersistent = new Set<string>();
  private readonly readyWaiters = new Set<{ resolve: () => void; reject: (e: unknown) => void }>();
  private stream: BusStream | undefined;
  private ready = false;
  private started = false;
  private closed = false;
  private seq = 0n;
  private nextSubscriptionId = 1;
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private backlog = 0;
  private paused = false;
  /** The router's secret for this node's last accepted hello: presented again to take over a half-open stream. */
  private resumeToken: Uint8Array = new Uint8Array(0);

  constructor(private readonly options: GrpcTransportOptions) {
    assertNodeId(options.nodeId);
    this.prefix = options.topicPrefix ?? '';
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.logger = options.logger ?? silentLogger;
    this.maxPayloadSize = options.maxPayloadSize ?? maxMessageSizeFor(options);
    const { credentials, options: tlsOptions } = clientCredentials(options.tls);
    this.client = new grpc.Client(options.target, credentials, {
      ...channelOptionsFor(options, this.maxPayloadSize + BUS_FRAME_HEADROOM_BYTES),
      ...tlsOptions,
    });
    this.rpc = new PubSubRpc(
      { publish: this.publish.bind(this), subscribe: this.subscribe.bind(this) },
      {
        source: nodeSource(options.nodeId),
        clock: this.clock,
        random: this.random,
        ...(options.requestTimeoutMs ? { defaultTimeoutMs: options.requestTimeoutMs } : {}),
      },
    );
  }

  get connected(): boolean {
    return this.ready;
  }

  async connect(): Promise<void> {
    this.ensureOpen();
    this.start();
    if (this.ready) return;
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
        reject: (error: unknown) => {
          this.clock.clearTimeout(timer);
          reject(error);
        },
      };
      const timer = this.clock.setTimeout(() => {
        this.readyWaiters.delete(waiter);
        reject(new TransportError('UNAVAILABLE', `no bus connection to ${this.options.target} within ${timeoutMs} ms`, { details: { target: this.options.target } }));
      }, timeoutMs);
      this.readyWaiters.add(waiter);
    });
  }

  async publish(topic: string, event: EcpsEvent, options: PublishOptions = {}): Promise<void> {
    this.ensureOpen();
    assertTopic(topic);
    if (event.data.length > this.maxPayloadSize) {
      throw new TransportError('MESSAGE_TOO_LARGE', `event data is ${event.data.length} bytes; the limit is ${this.maxPayloadSize}`, {
        details: { size: event.data.length, limit: this.maxPayloadSize, topic },
      });
    }
    // Attributes ride in the frame headroom; refusing here keeps an oversize frame from failing the whole stream.
    const attributes = attributeBytes(event);
    if (attributes > BUS_FRAME_HEADROOM_BYTES / 2) {
      throw new TransportError('MESSAGE_TOO_LARGE', `event attributes take ${attributes} bytes; the limit is ${BUS_FRAME_HEADROOM_BYTES / 2}`, {
        details: { size: attributes, limit: BUS_FRAME_HEADROOM_BYTES / 2, topic },
      });
    }
    this.start();
    const qos = options.qos ?? this.options.defaultQos ?? 1;
    if (qos === 0) {
      const stream = this.stream;
      if (!this.ready || !stream || stream.writableLength >= (this.options.bestEffortQueueLimit ?? 1024)) {
        this.stats.dropped++;
        return;
      }
      stream.write({ frame: { $case: 'publish', value: { seq: 0n, topic: this.prefix + topic, event: toBusEvent(event), qos } } });
      this.stats.published++;
      return;
    }
    const seq = ++this.seq;
    const ackTimeoutMs = this.options.ackTimeoutMs ?? 30_000;
    const deadline = options.expirySeconds ? Math.min(ackTimeoutMs, options.expirySeconds * 1000) : ackTimeoutMs;
    await this.sendReliable(seq, { frame: { $case: 'publish', value: { seq, topic: this.prefix + topic, event: toBusEvent(event), qos } } }, deadline);
    this.stats.published++;
  }

  async subscribe(filter: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.ensureOpen();
    assertTopicFilter(filter);
    this.start();
    const id = this.nextSubscriptionId++;
    const prefix = this.prefix;
    const local: LocalSubscription = {
      filter: prefix + filter,
      qos: options.qos ?? 2,
      established: false,
      queue: new DeliveryQueue(
        handler,
        (error, topic) => {
          if (this.options.onHandlerError) this.options.onHandlerError(error, topic);
          else this.logger.warn('subscription handler failed', { topic, error: String(error) });
        },
        (delta) => this.onBacklog(delta),
      ),
    };
    this.subscriptions.set(id, local);
    const seq = ++this.seq;
    try {
      await this.sendReliable(seq, this.subscribeFrame(seq, id, local), this.options.ackTimeoutMs ?? 30_000);
    } catch (error) {
      this.subscriptions.delete(id);
      local.queue.stop();
      throw error;
    }
    local.established = true;
    let active = true;
    return {
      filter,
      unsubscribe: async () => {
        if (!active) return;
        active = false;
        local.queue.stop();
        this.subscriptions.delete(id);
        // Without a live stream the router has already forgotten the subscription. With one, no ack is needed:
        // delivery has stopped locally, and the router applies frames of one stream in order.
        if (this.ready && !this.closed) {
          this.stream?.write({ frame: { $case: 'unsubscribe', value: { seq: 0n, subscriptionId: id } } });
        }
      },
    };
  }

  request(service: string, request: EcpsEvent, options?: RequestOptions): Promise<EcpsEvent> {
    return this.rpc.request(service, request, options);
  }

  serve(service: string, handler: RequestHandler): Promise<Subscription> {
    return this.rpc.serve(service, handler);
  }

  requestStream(service: string, request: EcpsEvent, options?: RequestOptions): AsyncIterable<EcpsEvent> {
    return this.rpc.requestStream(service, request, options);
  }

  serveStream(service: string, handler: StreamHandler): Promise<Subscription> {
    return this.rpc.serveStream(service, handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    this.rpc.close();
    const error = new TransportError('CLOSED', 'grpc transport closed');
    for (const op of this.pending.values()) {
      this.clock.clearTimeout(op.timer);
      op.reject(error);
    }
    this.pending.clear();
    for (const waiter of this.readyWaiters) waiter.reject(error);
    this.readyWaiters.clear();
    for (const s of this.subscriptions.values()) s.queue.stop();
    this.subscriptions.clear();
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.client.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new TransportError('CLOSED', 'grpc transport closed');
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.open();
  }

  private open(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    const stream = this.client.makeBidiStreamRequest(BusService.connect.path, serializeFrame, deserializeFrame, new grpc.Metadata(), {});
    this.stream = stream;
    stream.on('data', (frame: BusServerFrame) => this.onFrame(stream, frame));
    stream.on('error', (error: unknown) => this.onDown(stream, error));
    stream.on('end', () => this.onDown(stream, undefined));
    stream.write({ frame: { $case: 'hello', value: { nodeId: this.options.nodeId, resumeToken: this.resumeToken } } });
  }

  private onFrame(stream: BusStream, frame: BusServerFrame): void {
    if (stream !== this.stream) return;
    const f = frame.frame;
    if (f?.$case === 'delivery') {
      const { subscriptionIds, topic, event, qos } = f.value;
      if (!event || (qos === 2 && this.isDuplicate(event.source, event.id))) return;
      const received = fromBusEvent(event);
      const local = topic.slice(this.prefix.length);
      this.stats.received++;
      for (const id of subscriptionIds) this.subscriptions.get(id)?.queue.enqueue(received, local);
    } else if (f?.$case === 'ack') {
      if (f.value.seq !== 0n) this.onAck(f.value);
      else if (f.value.success) this.onReady(stream, f.value.resumeToken);
      else this.onRefused(f.value);
    }
  }

  /**
   * The router refused this node's hello (its id is connected elsewhere, or not the one its certificate names):
   * `connect()` fails with the router's code now; the node keeps retrying with backoff, since a dead connection
   * holding the id is dropped by the router's keepalive.
   */
  private onRefused(ack: BusAck): void {
    const error = this.errorFromAck(ack);
    this.logger.warn('bus hello refused', { target: this.options.target, nodeId: this.options.nodeId, code: error.code, reason: ack.message });
    for (const waiter of this.readyWaiters) waiter.reject(error);
    this.readyWaiters.clear();
  }

  /** The router greeted us: restore subscriptions, then resend every unacknowledged operation in order. */
  private onReady(stream: BusStream, resumeToken: Uint8Array): void {
    if (this.stats.reconnects > 0 || this.attempt > 0) this.logger.info('bus connection restored', { target: this.options.target });
    this.ready = true;
    this.resumeToken = resumeToken;
    this.attempt = 0;
    for (const [id, local] of this.subscriptions) {
      if (local.established) stream.write(this.subscribeFrame(0n, id, local));
    }
    for (const op of this.pending.values()) stream.write(op.frame);
    for (const waiter of this.readyWaiters) waiter.resolve();
    this.readyWaiters.clear();
  }

  private onAck(ack: BusAck): void {
    const op = this.pending.get(ack.seq);
    if (!op) return;
    this.pending.delete(ack.seq);
    this.clock.clearTimeout(op.timer);
    if (ack.success) return op.resolve();
    op.reject(this.errorFromAck(ack));
  }

  private errorFromAck(ack: BusAck): TransportError | ValidationError {
    const code: EcpsErrorCode = codeSet.has(ack.code) ? (ack.code as EcpsErrorCode) : 'REMOTE_ERROR';
    return code === 'INVALID_ARGUMENT' ? new ValidationError(code, ack.message) : new TransportError(code, `router: ${ack.message}`);
  }

  private onDown(stream: BusStream, error: unknown): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    this.ready = false;
    stream.cancel();
    if (this.closed) return;
    const reason = isServiceError(error) ? errorFromStatus(error, BusService.connect.path).message : 'stream ended by the router';
    this.logger.warn('bus connection lost', { target: this.options.target, reason });
    this.paused = false;
    const initial = this.options.reconnectDelayMs?.initial ?? 100;
    const max = this.options.reconnectDelayMs?.max ?? 5000;
    const base = Math.min(max, initial * 2 ** this.attempt++);
    const delay = base / 2 + (this.random.bytes(1)[0]! / 255) * (base / 2);
    this.stats.reconnects++;
    this.reconnectTimer = this.clock.setTimeout(() => this.open(), delay);
  }

  /** Exactly-once for PERSISTENT: a resend after a drop carries the same CloudEvents source and id. */
  private isDuplicate(source: string, id: string): boolean {
    const key = `${source}\u0000${id}`;
    if (this.recentPersistent.has(key)) {
      this.stats.duplicates++;
      return true;
    }
    this.recentPersistent.add(key);
    if (this.recentPersistent.size > (this.options.dedupeWindow ?? 16_384)) {
      this.recentPersistent.delete(this.recentPersistent.values().next().value!);
    }
    return false;
  }

  private sendReliable(seq: bigint, frame: BusClientFrame, deadlineMs: number): Promise<void> {
    const limit = this.options.maxInFlight ?? 10_000;
    if (this.pending.size >= limit) {
      return Promise.reject(new TransportError('QUEUE_FULL', `${this.pending.size} operations await the router's acknowledgement`, { details: { limit } }));
    }
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(seq);
        reject(new TransportError('TIMEOUT', `no acknowledgement from the router within ${deadlineMs} ms (delivery unknown)`, { details: { target: this.options.target } }));
      }, deadlineMs);
      this.pending.set(seq, { frame, resolve, reject, timer });
      if (this.ready) this.stream?.write(frame);
    });
  }

  private subscribeFrame(seq: bigint, id: number, local: LocalSubscription): BusClientFrame {
    return { frame: { $case: 'subscribe', value: { seq, subscriptionId: id, filter: local.filter, qos: local.qos } } };
  }

  /** Stops reading from the router while handlers lag, so that the router applies its bounds instead of us growing. */
  private onBacklog(delta: number): void {
    this.backlog += delta;
    const high = this.options.receiveHighWater ?? 4096;
    if (!this.paused && this.backlog >= high) {
      this.paused = true;
      this.stream?.pause();
    } else if (this.paused && this.backlog <= high / 4) {
      this.paused = false;
      this.stream?.resume();
    }
  }
}

/**
 * A {@link Transport} over gRPC: connects to the router at `target` started by `grpcBusServer`.
 *
 * QoS: 0 is written to the stream when connected and dropped otherwise (counted in `stats.dropped`); 1 and 2 resolve
 * when the router has accepted the event and queued it to every matching node, are kept while disconnected and
 * resent after a reconnect (so 1 arrives at least once); receivers drop repeated PERSISTENT (2) events by
 * CloudEvents `source` + `id` within `dedupeWindow`.
 * Errors: `MESSAGE_TOO_LARGE`, `INVALID_ARGUMENT`, `QUEUE_FULL` (in-flight or router bound), `TIMEOUT` (no ack in
 * `ackTimeoutMs`, delivery unknown), `UNAVAILABLE` (connect), `CLOSED` after `close()`.
 * @throws ValidationError `INVALID_ARGUMENT` for a bad node id, `CONFIG_INVALID` for bad TLS options.
 */
export function grpcTransport(options: GrpcTransportOptions): GrpcTransport {
  return new GrpcBusTransport(options);
}
