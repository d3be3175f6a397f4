// SPDX-License-Identifier: Apache-2.0
// The ECPS Transport over MQTT (mqtt.js v5): publish/subscribe, request/reply and server streams (spec §9).
import {
  CONFORMANCE_PROFILES,
  ENVELOPE_HEADROOM_BYTES,
  PubSubRpc,
  TransportError,
  assertTopic,
  assertTopicFilter,
  correlationOf,
  cryptoRandom,
  isEcpsError,
  isIgnoredEventType,
  nodeSource,
  silentLogger,
  systemClock,
  topicMatches,
  uuidv4,
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
  type TimerHandle,
  type Transport,
} from '@ecps/core';
import { connect as mqttConnect, Store, type IClientOptions, type IPublishPacket, type IStore, type MqttClient } from 'mqtt';
import { FileStore } from './file-store';
import { PublishGate, type QueueFullPolicy } from './publish-gate';
import { qosForType } from './qos-table';
import { decodeWire, encodeWire, type PublishProperties } from './wire';

/** Delay before reconnect attempt `attempt` (1, 2, ...). */
export type BackoffFn = (attempt: number) => number;

export interface MqttTlsOptions {
  /** PEM trust anchors; default the system store. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** PEM client certificate and key, for mutual TLS. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** Default true. Only turn off in tests. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface MqttTransportOptions {
  /** Broker URL: `mqtt://host:1883`, `mqtts://host:8883` (TLS), `ws://`, `wss://`. */
  url: string;
  /** This node's id; its CloudEvents source is `urn:ecps:<nodeId>`. */
  nodeId: string;
  /** 5 (default): CloudEvents binary mode. 4 (MQTT 3.1.1): structured mode. */
  protocolVersion?: 4 | 5;
  /** Default `ecps-<nodeId>-<random>`. Give a stable one together with `session.clean: false` or `storeDir`. */
  clientId?: string;
  username?: string;
  password?: string | Uint8Array;
  tls?: MqttTlsOptions;
  /** Prepended verbatim to every topic, reply topics included (spec §9). Default empty. */
  topicPrefix?: string;
  /** Sets `maxPayloadSize` to the profile's `max_message_size` + 4096. Default `standard`. */
  profile?: keyof typeof CONFORMANCE_PROFILES;
  /** Largest event `data` accepted; overrides `profile`. */
  maxPayloadSize?: number;
  /** QoS per event type, over the spec table (MCP/MEP/EAP 1, LTP 0), e.g. `{ 'ecps.ltp.tensor': 1 }`. */
  qosByType?: Readonly<Record<string, QosLevel>>;
  /** QoS of event types outside the table (`ecps.ext.*`). Default 1. */
  defaultQos?: QosLevel;
  /** Default deadline of `request`/`requestStream`. Default 30000. */
  requestTimeoutMs?: number;
  /** `connect()` fails with `UNAVAILABLE` after this long without a broker. Default 30000. */
  connectTimeoutMs?: number;
  /** Keepalive in seconds. Default 30. */
  keepaliveSeconds?: number;
  /** Reconnect after a lost connection. Default true. */
  reconnect?: boolean;
  /** Reconnect delays. Default 100 ms doubling to 5 s, with up to 20 % jitter. */
  reconnectBackoff?: BackoffFn;
  /** Publishes not yet completed (queued while offline or awaiting their acknowledgement). Default 10000. */
  maxPendingPublishes?: number;
  /** When `maxPendingPublishes` is reached: `reject` (default) fails with `QUEUE_FULL`, `wait` waits for room. */
  whenQueueFull?: QueueFullPolicy;
  /** Directory of the persistent outgoing store: unacknowledged QoS 1/2 messages survive a process restart. */
  storeDir?: string;
  /** `clean: false` keeps the broker session (subscriptions, queued messages) across reconnects. Default true. */
  session?: { clean?: boolean; /** MQTT 5 Session Expiry Interval when not clean. Default 3600. */ expirySeconds?: number };
  logger?: Logger;
  clock?: Clock;
  random?: RandomSource;
}

/** The spec §9 reply topic; on MQTT 5 it is also the Response Topic of requests. */
const REPLY_PREFIX = 'response/';
const REQUEST_SUFFIX = '/request';
/** Response topics of MQTT 5 requesters that chose their own, remembered until the reply is sent. */
const MAX_REMEMBERED_RESPONSE_TOPICS = 10_000;

interface LocalSubscription {
  readonly filter: string;
  readonly handler: EventHandler;
  readonly queue: Array<{ topic: string; event: EcpsEvent }>;
  active: boolean;
  pumping: boolean;
}

interface FilterGroup {
  readonly mqttFilter: string;
  readonly id: number;
  qos: QosLevel;
  readonly members: Set<LocalSubscription>;
}

export function defaultBackoff(random: RandomSource = cryptoRandom): BackoffFn {
  return (attempt) => {
    const base = Math.min(5000, 100 * 2 ** Math.min(attempt - 1, 10));
    const jitter = random.bytes(1)[0]! / 255;
    return Math.round(base * (1 + 0.2 * jitter));
  };
}

class MqttTransport implements Transport {
  readonly kind = 'mqtt';
  readonly maxPayloadSize: number;
  private readonly protocolVersion: 4 | 5;
  private readonly prefix: string;
  private readonly rpc: PubSubRpc;
  private readonly gate: PublishGate;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: BackoffFn;
  private readonly groups = new Map<string, FilterGroup>();
  private readonly groupsById = new Map<number, FilterGroup>();
  private readonly responseTopics = new Map<string, string>();
  private readonly pendingPublishes = new Set<(error: unknown) => void>();
  private client: MqttClient | undefined;
  private outgoingStore: IStore | undefined;
  private incomingStore: IStore | undefined;
  private nextGroupId = 1;
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private connected = false;
  private connectWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private fatalError: unknown;
  private closed = false;

  constructor(private readonly options: MqttTransportOptions) {
    this.protocolVersion = options.protocolVersion ?? 5;
    this.prefix = options.topicPrefix ?? '';
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.backoff = options.reconnectBackoff ?? defaultBackoff(options.random);
    const profile = CONFORMANCE_PROFILES[options.profile ?? 'standard'];
    if (!profile) throw new TransportError('CONFIG_INVALID', `unknown profile ${String(options.profile)}`);
    this.maxPayloadSize = options.maxPayloadSize ?? profile.maxMessageSizeBytes + ENVELOPE_HEADROOM_BYTES;
    this.gate = new PublishGate(options.maxPendingPublishes ?? 10_000, options.whenQueueFull ?? 'reject');
    const pubsub = { publish: this.publish.bind(this), subscribe: this.subscribe.bind(this) };
    this.rpc = new PubSubRpc(pubsub, {
      source: nodeSource(options.nodeId),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.requestTimeoutMs ? { defaultTimeoutMs: options.requestTimeoutMs } : {}),
    });
  }

  /** Connects (once); resolves at the first CONNACK. The transport keeps reconnecting until `close()`. */
  async connect(): Promise<void> {
    this.ensureOpen();
    this.start();
    if (this.connected) return;
    const timeoutMs = this.options.connectTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.connectWaiters = this.connectWaiters.filter((w) => w.resolve !== done);
        reject(new TransportError('UNAVAILABLE', `no MQTT connection to ${this.options.url} within ${timeoutMs} ms`, { details: { url: this.options.url } }));
      }, timeoutMs);
      const done = () => {
        this.clock.clearTimeout(timer);
        resolve();
      };
      this.connectWaiters.push({
        resolve: done,
        reject: (e) => {
          this.clock.clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  publish(topic: string, event: EcpsEvent, options: PublishOptions = {}): Promise<void> {
    try {
      this.ensureOpen();
      assertTopic(topic);
      if (event.data.length > this.maxPayloadSize) {
        throw new TransportError('MESSAGE_TOO_LARGE', `event data is ${event.data.length} bytes; the limit is ${this.maxPayloadSize}`, {
          details: { size: event.data.length, limit: this.maxPayloadSize, topic },
        });
      }
      const client = this.start();
      const qos = options.qos ?? qosForType(event.type, this.options.qosByType ?? {}, this.options.defaultQos ?? 1);
      const { payload, properties } = encodeWire(event, this.protocolVersion);
      let mqttTopic = this.prefix + topic;
      if (properties) {
        if (options.expirySeconds !== undefined) properties.messageExpiryInterval = Math.max(1, Math.ceil(options.expirySeconds));
        const correlation = correlationOf(event);
        if (correlation !== undefined) {
          properties.correlationData = Buffer.from(correlation, 'utf8');
          if (topic.endsWith(REQUEST_SUFFIX)) properties.responseTopic = this.prefix + REPLY_PREFIX + correlation;
          if (topic === REPLY_PREFIX + correlation) {
            const chosen = this.responseTopics.get(correlation);
            if (chosen !== undefined) {
              this.responseTopics.delete(correlation);
              mqttTopic = chosen;
            }
          }
        }
      }
      const waiting = this.gate.acquire({ topic });
      if (waiting) return waiting.then(() => this.send(client, mqttTopic, payload, qos, properties));
      return this.send(client, mqttTopic, payload, qos, properties);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async subscribe(filter: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.ensureOpen();
    assertTopicFilter(filter);
    const client = this.start();
    const mqttFilter = this.prefix + filter;
    const qos = options.qos ?? 2;
    const local: LocalSubscription = { filter, handler, queue: [], active: true, pumping: false };
    let group = this.groups.get(mqttFilter);
    if (!group || group.qos < qos) {
      const id = group?.id ?? this.nextGroupId++;
      group ??= { mqttFilter, id, qos, members: new Set() };
      group.qos = Math.max(group.qos, qos) as QosLevel;
      this.groups.set(mqttFilter, group);
      this.groupsById.set(id, group);
      await this.mqttSubscribe(client, group);
    }
    group.members.add(local);
    const unsubscribe = async () => {
      if (!local.active) return;
      local.active = false;
      local.queue.length = 0;
      const current = this.groups.get(mqttFilter);
      if (!current) return;
      current.members.delete(local);
      if (current.members.size > 0) return;
      this.groups.delete(mqttFilter);
      this.groupsById.delete(current.id);
      if (!this.closed && this.connected) await client.unsubscribeAsync(mqttFilter).catch(() => undefined);
    };
    return { filter, unsubscribe };
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
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    for (const group of this.groups.values()) for (const m of group.members) m.active = false;
    this.groups.clear();
    this.groupsById.clear();
    const client = this.client;
    if (client) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    // Fail what is pending only now, in the same turn close() resolves, so callers awaiting close() first can
    // still attach their handlers without an unhandled rejection in between.
    const error = new TransportError('CLOSED', 'mqtt transport closed', {
      details: { persisted: this.options.storeDir !== undefined },
    });
    this.rpc.close();
    this.gate.close(error);
    for (const fail of [...this.pendingPublishes]) fail(error);
    for (const w of this.connectWaiters.splice(0)) w.reject(error);
  }

  /** Creates the client on first use; publishes and subscriptions made before the first CONNACK are queued. */
  private start(): MqttClient {
    if (this.client) return this.client;
    const o = this.options;
    const clean = o.session?.clean ?? true;
    this.outgoingStore = o.storeDir ? new FileStore(o.storeDir, this.logger) : new Store();
    this.incomingStore = new Store();
    const clientOptions: IClientOptions = {
      protocolVersion: this.protocolVersion,
      clientId: o.clientId ?? `ecps-${o.nodeId}-${uuidv4(o.random ?? cryptoRandom).slice(0, 8)}`,
      clean,
      keepalive: o.keepaliveSeconds ?? 30,
      connectTimeout: o.connectTimeoutMs ?? 30_000,
      reconnectPeriod: 0, // reconnects are driven here, with the injectable backoff
      resubscribe: true,
      queueQoSZero: true,
      outgoingStore: this.outgoingStore,
      incomingStore: this.incomingStore,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
      ...(o.tls ?? {}),
    } as IClientOptions;
    if (this.protocolVersion === 5 && !clean) clientOptions.properties = { sessionExpiryInterval: o.session?.expirySeconds ?? 3600 };
    const client = mqttConnect(o.url, clientOptions);
    this.client = client;
    client.on('connect', () => {
      this.connected = true;
      this.attempt = 0;
      this.logger.debug('mqtt connected', { url: o.url });
      for (const w of this.connectWaiters.splice(0)) w.resolve();
    });
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('error', (error) => {
      this.logger.warn('mqtt client error', { url: o.url, error: String(error) });
      const code = (error as { code?: unknown }).code;
      // Bad credentials or a refused identity never heal by retrying (3.1.1 return codes 4/5, MQTT 5 0x86/0x87).
      if (code === 4 || code === 5 || code === 0x86 || code === 0x87) {
        this.fatalError = new TransportError(code === 5 || code === 0x87 ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED', `MQTT broker refused the connection: ${error.message}`, {
          cause: error,
        });
        for (const w of this.connectWaiters.splice(0)) w.reject(this.fatalError);
      }
    });
    client.on('close', () => {
      if (this.connected) this.logger.info('mqtt connection lost', { url: o.url });
      this.connected = false;
      this.scheduleReconnect();
    });
    return client;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.fatalError || this.options.reconnect === false || this.reconnectTimer !== undefined) return;
    const delay = this.backoff(++this.attempt);
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      const client = this.client;
      if (this.closed || !client || this.connected) return;
      // Same stores: what waits for acknowledgement must survive the reconnect.
      client.reconnect({ outgoingStore: this.outgoingStore!, incomingStore: this.incomingStore! });
    }, delay);
  }

  private send(client: MqttClient, mqttTopic: string, payload: Buffer, qos: QosLevel, properties: PublishProperties | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        this.pendingPublishes.delete(fail);
        this.gate.release();
        reject(error);
      };
      this.pendingPublishes.add(fail);
      const attempt = () =>
        client.publish(mqttTopic, payload, { qos, retain: false, ...(properties ? { properties } : {}) }, (error) => {
          if (settled) return;
          if (!error) {
            settled = true;
            this.pendingPublishes.delete(fail);
            this.gate.release();
            resolve();
            return;
          }
          // mqtt.js fails publishes it had queued behind a store replay when the connection drops again; they
          // were never sent, so sending them again keeps at-least-once without reordering.
          if (error.message === 'Connection closed' && !this.closed) {
            setImmediate(attempt);
            return;
          }
          fail(this.mapPublishError(error, mqttTopic));
        });
      attempt();
    });
  }

  private mapPublishError(error: Error & { code?: number }, topic: string): TransportError {
    if (this.closed || /disconnecting/i.test(error.message)) return new TransportError('CLOSED', 'mqtt transport closed', { cause: error });
    const details = { topic, reasonCode: error.code };
    if (error.code === 0x95) return new TransportError('MESSAGE_TOO_LARGE', `broker rejected the message as too large`, { cause: error, details });
    if (error.code === 0x97) return new TransportError('QUEUE_FULL', `broker quota exceeded`, { cause: error, details });
    if (error.code === 0x87) return new TransportError('PERMISSION_DENIED', `broker refused publishing to ${topic}`, { cause: error, details });
    return new TransportError('UNAVAILABLE', `publish to ${topic} failed: ${error.message}`, { cause: error, details });
  }

  private async mqttSubscribe(client: MqttClient, group: FilterGroup): Promise<void> {
    const request = client.subscribeAsync(group.mqttFilter, {
      qos: group.qos,
      ...(this.protocolVersion === 5 ? { properties: { subscriptionIdentifier: group.id } } : {}),
    });
    // Offline, mqtt.js sends the SUBSCRIBE at the next CONNACK; do not hold the caller until then.
    if (!this.connected) {
      request.catch((error: unknown) => this.logger.warn('mqtt subscribe failed', { filter: group.mqttFilter, error: String(error) }));
      return;
    }
    let granted;
    try {
      granted = await request;
    } catch (error) {
      throw new TransportError(this.closed ? 'CLOSED' : 'UNAVAILABLE', `subscribe to ${group.mqttFilter} failed`, { cause: error });
    }
    const refused = granted.find((g) => g.qos >= 0x80);
    if (refused) {
      this.groups.delete(group.mqttFilter);
      this.groupsById.delete(group.id);
      throw new TransportError('PERMISSION_DENIED', `broker refused the subscription ${group.mqttFilter} (reason ${refused.qos})`, {
        details: { filter: group.mqttFilter, reasonCode: refused.qos },
      });
    }
  }

  private onMessage(mqttTopic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.closed || !mqttTopic.startsWith(this.prefix)) return;
    let event: EcpsEvent;
    try {
      event = decodeWire(payload, packet.properties);
    } catch (error) {
      this.logger.warn('ignoring a non-CloudEvents MQTT message', { topic: mqttTopic, error: isEcpsError(error) ? error.message : String(error) });
      return;
    }
    if (isIgnoredEventType(event.type)) return;
    const properties = packet.properties;
    if (properties?.correlationData && correlationOf(event) === undefined) {
      // An MQTT 5 requester that only set Correlation Data (e.g. mosquitto_rr): carry it as the extension.
      event = { ...event, extensions: { ...event.extensions, correlationid: properties.correlationData.toString('utf8') } };
    }
    const correlation = correlationOf(event);
    if (properties?.responseTopic && correlation !== undefined && properties.responseTopic !== this.prefix + REPLY_PREFIX + correlation) {
      if (this.responseTopics.size >= MAX_REMEMBERED_RESPONSE_TOPICS) this.responseTopics.delete(this.responseTopics.keys().next().value!);
      this.responseTopics.set(correlation, properties.responseTopic);
    }
    const topic = mqttTopic.slice(this.prefix.length);
    const ids = properties?.subscriptionIdentifier;
    const targets: FilterGroup[] = [];
    if (ids !== undefined) {
      for (const id of Array.isArray(ids) ? ids : [ids]) {
        const group = this.groupsById.get(id);
        if (group) targets.push(group);
      }
    } else {
      for (const group of this.groups.values()) if (topicMatches(group.mqttFilter, mqttTopic)) targets.push(group);
    }
    for (const group of targets) for (const local of group.members) this.enqueue(local, topic, event);
  }

  private enqueue(local: LocalSubscription, topic: string, event: EcpsEvent): void {
    local.queue.push({ topic, event });
    if (!local.pumping) void this.pump(local);
  }

  /** Runs one subscription's handler on one event at a time, in arrival order. */
  private async pump(local: LocalSubscription): Promise<void> {
    local.pumping = true;
    while (local.active && local.queue.length > 0) {
      const { topic, event } = local.queue.shift()!;
      try {
        await local.handler(event, topic);
      } catch (error) {
        this.logger.warn('subscription handler failed', { filter: local.filter, topic, error: String(error) });
      }
    }
    local.pumping = false;
  }

  private ensureOpen(): void {
    if (this.closed) throw new TransportError('CLOSED', 'mqtt transport closed');
    if (this.fatalError) throw this.fatalError;
  }
}

/**
 * A {@link Transport} over an MQTT broker.
 *
 * Throws `CONFIG_INVALID` for an unknown profile. Calls fail with `CLOSED` after `close()`, `MESSAGE_TOO_LARGE` above
 * `maxPayloadSize`, `QUEUE_FULL` when `maxPendingPublishes` publishes are pending (policy `reject`),
 * `INVALID_ARGUMENT` for bad topics; `connect()` fails with `UNAVAILABLE`, `UNAUTHENTICATED` or `PERMISSION_DENIED`.
 */
export function mqttTransport(options: MqttTransportOptions): Transport {
  return new MqttTransport(options);
}
