// SPDX-License-Identifier: Apache-2.0
import {
  CONFORMANCE_PROFILES,
  ENVELOPE_HEADROOM_BYTES,
  PubSubRpc,
  TransportError,
  assertTopic,
  assertTopicFilter,
  nodeSource,
  silentLogger,
  type Clock,
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
  type Transport,
} from '@ecps/core';
import { MemoryBus } from './memory-bus';

export interface MemoryTransportOptions {
  /** This node's id; its CloudEvents source is `urn:ecps:<nodeId>`. */
  nodeId: string;
  /** The medium shared with the other nodes. Defaults to a process-wide bus. */
  bus?: MemoryBus;
  /** Largest event `data` accepted. Default: standard profile (1 MiB) + 4096 bytes of envelope headroom. */
  maxPayloadSize?: number;
  /** QoS used when a publish does not name one. Default 1 (RELIABLE). */
  defaultQos?: QosLevel;
  /** Prepended verbatim to every topic, including reply topics (spec §9). Default empty. */
  topicPrefix?: string;
  requestTimeoutMs?: number;
  /** How long a `serve` handler may take before the requester gets a `TIMEOUT` error reply. Default `requestTimeoutMs`. */
  handlerTimeoutMs?: number;
  /** Hears handler errors of this transport's subscriptions and RPC replies that could not be sent (warn). Default silent. */
  logger?: Logger;
  clock?: Clock;
  random?: RandomSource;
}

let defaultBus: MemoryBus | undefined;
const PUBLISHED: Promise<void> = Promise.resolve();

/** The process-wide bus used by memory transports that are not given one. */
export function defaultMemoryBus(): MemoryBus {
  return (defaultBus ??= new MemoryBus());
}

class MemoryTransport implements Transport {
  readonly kind = 'memory';
  readonly maxPayloadSize: number;
  private readonly bus: MemoryBus;
  private readonly prefix: string;
  private readonly rpc: PubSubRpc;
  private readonly logger: Logger;
  private readonly subscriptions = new Set<{ detach(): void }>();
  private readonly validTopics = new Set<string>();
  private closed = false;

  constructor(private readonly options: MemoryTransportOptions) {
    this.bus = options.bus ?? defaultMemoryBus();
    this.prefix = options.topicPrefix ?? '';
    this.logger = options.logger ?? silentLogger;
    this.maxPayloadSize = options.maxPayloadSize ?? CONFORMANCE_PROFILES.standard.maxMessageSizeBytes + ENVELOPE_HEADROOM_BYTES;
    const pubsub = { publish: this.publish.bind(this), subscribe: this.subscribe.bind(this) };
    this.rpc = new PubSubRpc(pubsub, {
      source: nodeSource(options.nodeId),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.requestTimeoutMs ? { defaultTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.handlerTimeoutMs ? { handlerTimeoutMs: options.handlerTimeoutMs } : {}),
      logger: this.logger,
    });
  }

  async connect(): Promise<void> {
    this.ensureOpen();
  }

  // not `async`: routing is synchronous, so an already settled promise saves the async frame per publish
  publish(topic: string, event: EcpsEvent, options: PublishOptions = {}): Promise<void> {
    try {
      this.ensureOpen();
      this.checkTopic(topic);
      if (event.data.length > this.maxPayloadSize) {
        throw new TransportError('MESSAGE_TOO_LARGE', `event data is ${event.data.length} bytes; the limit is ${this.maxPayloadSize}`, {
          details: { size: event.data.length, limit: this.maxPayloadSize, topic },
        });
      }
      this.bus.route(this.prefix + topic, event, options.qos ?? this.options.defaultQos ?? 1);
      return PUBLISHED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async subscribe(filter: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.ensureOpen();
    assertTopicFilter(filter);
    const prefix = this.prefix;
    const attachment = this.bus.attach(
      prefix + filter,
      options.qos ?? 2,
      prefix === '' ? handler : (event, topic) => handler(event, topic.slice(prefix.length)),
      (error, topic) => this.logger.warn('subscription handler failed', { filter, topic: topic.slice(prefix.length), error: String(error) }),
    );
    this.subscriptions.add(attachment);
    return {
      filter,
      unsubscribe: async () => {
        attachment.detach();
        this.subscriptions.delete(attachment);
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
    this.rpc.close();
    for (const s of this.subscriptions) s.detach();
    this.subscriptions.clear();
  }

  /** `assertTopic`, remembering up to 1024 topics that passed (publishers repeat a few topics). */
  private checkTopic(topic: string): void {
    if (this.validTopics.has(topic)) return;
    assertTopic(topic);
    if (this.validTopics.size >= 1024) this.validTopics.clear();
    this.validTopics.add(topic);
  }

  private ensureOpen(): void {
    if (this.closed) throw new TransportError('CLOSED', 'memory transport closed');
  }
}

/**
 * A {@link Transport} whose network is an in-process {@link MemoryBus}.
 *
 * QoS: BEST_EFFORT events may be dropped when a subscriber has `bestEffortQueueLimit` events queued (counted in
 * `bus.stats.dropped`); RELIABLE and PERSISTENT events are never dropped: past `reliableQueueLimit` the publish
 * fails with `QUEUE_FULL`. Event `data` is shared with subscribers, not copied: treat it as immutable.
 */
export function memoryTransport(options: MemoryTransportOptions): Transport {
  return new MemoryTransport(options);
}
