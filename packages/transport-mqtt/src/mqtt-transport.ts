// SPDX-License-Identifier: Apache-2.0
// The ECPS Transport over MQTT (mqtt.js v5): publish/subscribe, request/reply and server streams (spec §9), a
// receive path with bounded queues and QoS 1 acknowledged after the handler, and a close() that flushes.
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
import { ReceiveFlow, type ReceiveStats, type SubscriptionQueue } from './receive-flow';
import { qosForType } from './qos-table';
import { encodeWire, isAllowedResponseTopic, readPublish, type PublishProperties, type ReceiveLimits } from './wire';

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
  /** How long a `serve` handler may take before the requester gets a `TIMEOUT` error reply. Default `requestTimeoutMs`. */
  handlerTimeoutMs?: number;
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
  /**
   * Events one subscription may have waiting for its handler before the transport stops reading from the broker
   * (TCP then pushes back); reading resumes when every queue is down to a quarter. Default 1024. On MQTT 5 the
   * broker is also asked to keep at most half of it in flight as unacknowledged QoS 1/2 messages (Receive Maximum).
   */
  receiveQueueLimit?: number;
  /** How long `close()` waits for publishes still in flight before it ends the connection anyway. Default 5000. */
  closeTimeoutMs?: number;
  logger?: Logger;
  clock?: Clock;
  random?: RandomSource;
}

/** The spec §9 reply topic; on MQTT 5 it is also the Response Topic of requests. */
const REPLY_PREFIX = 'response/';
const REQUEST_SUFFIX = '/request';
/** Response topics of MQTT 5 requesters that chose their own, remembered until the reply is sent. */
const MAX_REMEMBERED_RESPONSE_TOPICS = 10_000;
const NO_QUEUES: readonly SubscriptionQueue[] = [];

/** mqtt.js's packet writer, which it keeps private; used to send the PUBACKs it was told to leave to us. */
interface RawPacketSender {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb: undefined, cbStorePut: undefined, noStore: true): void;
}
/** Room for the topic, properties and, in structured mode, JSON attributes and base64 around the event data. */
const WIRE_OVERHEAD_BYTES = 64 * 1024;

interface FilterGroup {
  readonly mqttFilter: string;
  readonly id: number;
  qos: QosLevel;
  readonly members: Set<SubscriptionQueue>;
}

/** What the receive path has done; see {@link MqttTransport.stats}. */
export interface MqttTransportStats extends ReceiveStats {
  /** Messages dropped because they exceeded the size limit on receive. */
  droppedTooLarge: number;
  /** Messages dropped because they were not CloudEvents. */
  droppedUndecodable: number;
}

/** The ECPS {@link Transport} over MQTT, with the receive path's figures. */
export interface MqttTransport extends Transport {
  stats(): MqttTransportStats;
}

export function defaultBackoff(random: RandomSource = cryptoRandom): BackoffFn {
  return (attempt) => {
    const base = Math.min(5000, 100 * 2 ** Math.min(attempt - 1, 10));
    const jitter = random.bytes(1)[0]! / 255;
    return Math.round(base * (1 + 0.2 * jitter));
  };
}

class MqttClientTransport implements MqttTransport {
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
  private readonly flow: ReceiveFlow;
  /** Receive limits: the PUBLISH payload (structured mode: base64 data and JSON attributes) and the event data. */
  private readonly limits: ReceiveLimits;
  private readonly dropped = { droppedTooLarge: 0, droppedUndecodable: 0 };
  /** Publishes called and not yet settled (including those waiting for room): close() waits for them. */
  private unsettled = 0;
  private onSettled: (() => void) | undefined;
  private client: MqttClient | undefined;
  private outgoingStore: IStore | undefined;
  private incomingStore: IStore | undefined;
  private nextGroupId = 1;
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private connected = false;
  private everConnected = false;
  private connectWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private fatalError: unknown;
  private lastError: unknown;
  private closed = false;
  private closeDone: Promise<void> = Promise.resolve();
  /** PUBACKs owed on the current connection, sent together by {@link sendAcks}. */
  private acksToSend: number[] = [];
  /** True from a PUBACK sent at once until the end of its turn. */
  private ackTurn = false;

  constructor(private readonly options: MqttTransportOptions) {
    this.protocolVersion = options.protocolVersion ?? 5;
    this.prefix = options.topicPrefix ?? '';
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.backoff = options.reconnectBackoff ?? defaultBackoff(options.random);
    const profile = CONFORMANCE_PROFILES[options.profile ?? 'standard'];
    if (!profile) throw new TransportError('CONFIG_INVALID', `unknown profile ${String(options.profile)}`);
    this.maxPayloadSize = options.maxPayloadSize ?? profile.maxMessageSizeBytes + ENVELOPE_HEADROOM_BYTES;
    this.limits = { maxWireBytes: Math.ceil(this.maxPayloadSize / 3) * 4 + WIRE_OVERHEAD_BYTES, maxPayloadSize: this.maxPayloadSize };
    this.gate = new PublishGate(options.maxPendingPublishes ?? 10_000, options.whenQueueFull ?? 'reject');
    this.flow = new ReceiveFlow({
      limit: Math.max(1, options.receiveQueueLimit ?? 1024),
      logger: this.logger,
      sendAck: (messageId) => this.queueAck(messageId),
    });
    const pubsub = { publish: this.publish.bind(this), subscribe: this.subscribe.bind(this) };
    this.rpc = new PubSubRpc(pubsub, {
      source: nodeSource(options.nodeId),
      logger: this.logger,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.requestTimeoutMs ? { defaultTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.handlerTimeoutMs ? { handlerTimeoutMs: options.handlerTimeoutMs } : {}),
    });
  }

  stats(): MqttTransportStats {
    return { ...this.flow.stats, ...this.dropped };
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
      const waiting = this.gate.acquire(topic);
      this.unsettled++;
      if (waiting) {
        return waiting.then(
          () => this.send(client, mqttTopic, payload, qos, properties),
          (error: unknown) => {
            this.settled();
            throw error;
          },
        );
      }
      return this.send(client, mqttTopic, payload, qos, properties);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A PUBACK goes out at once; those of further messages handled in the same turn leave together at its end. The
   * socket has no Nagle delay (for request/reply), so one write each was a TCP segment and a wake-up of the broker
   * per message of a burst.
   */
  private queueAck(messageId: number): void {
    if (this.ackTurn) {
      this.acksToSend.push(messageId);
      return;
    }
    this.ackTurn = true;
    setImmediate(() => {
      this.ackTurn = false;
      this.sendAcks();
    });
    this.sendAck(messageId);
  }

  private sendAcks(): void {
    const ids = this.acksToSend;
    this.acksToSend = [];
    // written in one turn, the packets share mqtt.js's cork: one socket write for all of them
    for (const messageId of ids) this.sendAck(messageId);
  }

  private sendAck(messageId: number): void {
    (this.client as unknown as RawPacketSender | undefined)?._sendPacket({ cmd: 'puback', messageId }, undefined, undefined, true);
  }

  private settled(): void {
    if (--this.unsettled === 0) this.onSettled?.();
  }

  async subscribe(filter: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.ensureOpen();
    assertTopicFilter(filter);
    const client = this.start();
    const mqttFilter = this.prefix + filter;
    const qos = options.qos ?? 2;
    const local = this.flow.queue(filter, handler);
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
      local.stop(true);
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

  /**
   * Stops delivery at once (queued QoS 1 messages stay unacknowledged, so a persistent session gets them again),
   * waits up to `closeTimeoutMs` for publishes still in flight when connected, then sends DISCONNECT after
   * everything written and closes the socket. What is still pending then fails with `CLOSED`.
   */
  async close(): Promise<void> {
    if (this.closed) return this.closeDone;
    this.closed = true;
    let done!: () => void;
    this.closeDone = new Promise<void>((resolve) => (done = resolve));
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    for (const group of this.groups.values()) for (const m of group.members) m.stop(false);
    this.groups.clear();
    this.groupsById.clear();
    this.flow.close();
    this.sendAcks();
    const client = this.client;
    if (client) await this.disconnect(client);
    // Fail what is pending only now, in the same turn close() resolves, so callers awaiting close() first can
    // still attach their handlers without an unhandled rejection in between.
    const error = new TransportError('CLOSED', 'mqtt transport closed', {
      details: { persisted: this.options.storeDir !== undefined },
    });
    this.rpc.close();
    this.gate.close(error);
    for (const fail of [...this.pendingPublishes]) fail(error);
    for (const w of this.connectWaiters.splice(0)) w.reject(error);
    done();
  }

  /** Flushes, then ends the connection: DISCONNECT and a graceful socket end, forced once the deadline passed. */
  private async disconnect(client: MqttClient): Promise<void> {
    let timer: TimerHandle | undefined;
    const expired = new Promise<false>((resolve) => (timer = this.clock.setTimeout(() => resolve(false), this.options.closeTimeoutMs ?? 5000)));
    const drained =
      this.unsettled === 0 ? Promise.resolve(true) : new Promise<true>((resolve) => (this.onSettled = () => resolve(true)));
    const flushed = this.connected && (await Promise.race([drained, expired]));
    // end(false) sends DISCONNECT behind everything already written and ends the socket, which flushes it
    const ended = new Promise<void>((resolve) => client.end(!flushed, {}, () => resolve()));
    if (!(await Promise.race([ended.then(() => true), expired]))) client.stream.destroy();
    await ended;
    this.clock.clearTimeout(timer!);
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
      resubscribe: false, // see the 'connect' handler
      queueQoSZero: true,
      outgoingStore: this.outgoingStore,
      incomingStore: this.incomingStore,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
      ...(o.tls ?? {}),
    } as IClientOptions;
    if (this.protocolVersion === 5) {
      clientOptions.properties = {
        // a conforming broker then never sends us more than we accept, nor more unacknowledged QoS 1/2 than we queue
        maximumPacketSize: this.limits.maxWireBytes + WIRE_OVERHEAD_BYTES,
        receiveMaximum: Math.min(65_535, Math.max(1, Math.floor((o.receiveQueueLimit ?? 1024) / 2))),
        ...(clean ? {} : { sessionExpiryInterval: o.session?.expirySeconds ?? 3600 }),
      };
    }
    const client = mqttConnect(o.url, clientOptions);
    this.client = client;
    // Every received PUBLISH comes through here; mqtt.js reads the next packet only when `done` is called.
    client.handleMessage = (packet, done) => this.onPublish(packet, done);
    client.on('connect', (connack) => {
      this.connected = true;
      this.attempt = 0;
      // Small request/reply messages must not wait for Nagle's algorithm (a 40 ms delayed-ACK stall per round trip).
      (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
      this.logger.debug('mqtt connected', { url: o.url, sessionPresent: connack.sessionPresent });
      // mqtt.js only remembers subscriptions for its own reconnect timer, which we replace: resubscribe here
      // whenever the broker has no session for us (a clean session, or one lost with the broker's state).
      if (this.everConnected && !connack.sessionPresent) {
        for (const group of this.groups.values()) void this.mqttSubscribe(client, group).catch((error: unknown) => this.logger.warn('mqtt resubscribe failed', { filter: group.mqttFilter, error: String(error) }));
      }
      this.everConnected = true;
      for (const w of this.connectWaiters.splice(0)) w.resolve();
    });
    client.on('error', (error) => {
      this.lastError = error;
      this.logger.warn('mqtt client error', { url: o.url, error: String(error) });
      const code = (error as { code?: unknown }).code;
      // Bad credentials or a refused identity never heal by retrying (3.1.1 return codes 4/5, MQTT 5 0x86/0x87).
      if (code === 4 || code === 5 || code === 0x86 || code === 0x87) {
        this.fatalError = new TransportError('UNAUTHENTICATED', `MQTT broker refused the connection: ${error.message}`, {
          cause: error,
          details: { url: o.url, reasonCode: code },
        });
        for (const w of this.connectWaiters.splice(0)) w.reject(this.fatalError);
      }
    });
    client.on('close', () => {
      if (this.connected) this.logger.info('mqtt connection lost', { url: o.url });
      this.connected = false;
      // owed on the connection that is gone: the broker redelivers those messages, and a PUBACK on the next
      // connection could acknowledge a redelivery before its handlers ran
      this.acksToSend = [];
      this.flow.connectionLost();
      if (o.reconnect === false && this.connectWaiters.length > 0) {
        // No retry will come: fail connect() now with what went wrong (refused, TLS, ...).
        const error = new TransportError('UNAVAILABLE', `no MQTT connection to ${o.url}: ${String(this.lastError ?? 'closed')}`, {
          cause: this.lastError,
          details: { url: o.url },
        });
        for (const w of this.connectWaiters.splice(0)) w.reject(error);
      }
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
        this.settled();
        reject(error);
      };
      this.pendingPublishes.add(fail);
      const publishOptions = properties ? { qos, retain: false, properties } : { qos, retain: false };
      const attempt = () =>
        client.publish(mqttTopic, payload, publishOptions, (error) => {
          if (settled) return;
          if (!error) {
            // also while close() waits for it
            settled = true;
            this.pendingPublishes.delete(fail);
            this.gate.release();
            this.settled();
            resolve();
            return;
          }
          // After close(), close() itself fails what is still pending, with CLOSED.
          if (this.closed) return;
          // mqtt.js fails publishes it had queued behind a store replay when the connection drops again; they
          // were never sent, so sending them again keeps at-least-once without reordering.
          if (error.message === 'Connection closed') {
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
      if (this.closed) {
        await this.closeDone; // report CLOSED once close() has resolved, like every other pending call
        throw new TransportError('CLOSED', 'mqtt transport closed', { cause: error });
      }
      throw new TransportError('UNAVAILABLE', `subscribe to ${group.mqttFilter} failed`, { cause: error });
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

  /** One received PUBLISH: checked, decoded and queued; `done` tells mqtt.js when to read on (see ReceiveFlow). */
  private onPublish(packet: IPublishPacket, done: (error?: Error) => void): void {
    if (this.closed) return this.flow.refuse(done);
    const mqttTopic = packet.topic;
    if (!mqttTopic.startsWith(this.prefix)) return this.flow.skip(done);
    let event: EcpsEvent;
    try {
      event = readPublish(packet.payload as Buffer, packet.properties, this.limits);
    } catch (error) {
      const tooLarge = isEcpsError(error, 'MESSAGE_TOO_LARGE');
      this.dropped[tooLarge ? 'droppedTooLarge' : 'droppedUndecodable']++;
      const message = tooLarge ? 'dropping a message over the size limit' : 'ignoring a non-CloudEvents MQTT message';
      this.logger.warn(message, { topic: mqttTopic, error: isEcpsError(error) ? error.message : String(error) });
      return this.flow.skip(done);
    }
    if (isIgnoredEventType(event.type)) return this.flow.skip(done);
    const responseTopic: unknown = packet.properties?.responseTopic;
    if (responseTopic !== undefined) this.rememberResponseTopic(responseTopic, event);
    const topic = mqttTopic.slice(this.prefix.length);
    const ids = packet.properties?.subscriptionIdentifier;
    let queues: Iterable<SubscriptionQueue>;
    if (typeof ids === 'number') {
      queues = this.groupsById.get(ids)?.members ?? NO_QUEUES;
    } else {
      const matching: SubscriptionQueue[] = [];
      if (Array.isArray(ids)) for (const id of ids) matching.push(...(this.groupsById.get(id)?.members ?? NO_QUEUES));
      else for (const group of this.groups.values()) if (topicMatches(group.mqttFilter, mqttTopic)) matching.push(...group.members);
      queues = matching;
    }
    this.flow.deliver(queues, topic, event, packet.qos, packet.messageId, done);
  }

  /** A requester's own MQTT 5 Response Topic is used for the reply only when it lies under our topic prefix. */
  private rememberResponseTopic(responseTopic: unknown, event: EcpsEvent): void {
    const correlation = correlationOf(event);
    if (correlation === undefined || responseTopic === this.prefix + REPLY_PREFIX + correlation) return;
    if (!isAllowedResponseTopic(responseTopic, this.prefix)) {
      this.logger.warn('ignoring a Response Topic outside the topic prefix', { responseTopic, prefix: this.prefix, source: event.source });
      return;
    }
    if (this.responseTopics.size >= MAX_REMEMBERED_RESPONSE_TOPICS) this.responseTopics.delete(this.responseTopics.keys().next().value!);
    this.responseTopics.set(correlation, responseTopic);
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
 * `INVALID_ARGUMENT` for bad topics; `connect()` fails with `UNAVAILABLE` (no broker in time) or `UNAUTHENTICATED` (credentials refused).
 * Received QoS 1 messages are acknowledged once every matching handler has returned (or thrown); received messages
 * over the size limit or that are not CloudEvents are dropped and reported to the logger.
 */
export function mqttTransport(options: MqttTransportOptions): MqttTransport {
  return new MqttClientTransport(options);
}
