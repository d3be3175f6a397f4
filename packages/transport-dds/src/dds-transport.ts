// SPDX-License-Identifier: Apache-2.0
// The ECPS Transport over Cyclone DDS (spec §9): every event is one ecps::dds::Envelope sample on the topic
// `ecps/<topic>`; QoS follows the spec's tables per traffic class; request/reply and server streams run on the fixed
// topics `{service}/request|reply|stream`, filtered on `correlationid`; wildcard filters attach readers to every
// matching topic as its writers are discovered.
import {
  CONFORMANCE_PROFILES,
  ENVELOPE_HEADROOM_BYTES,
  EVENT_TYPES,
  PubSubRpc,
  TransportError,
  assertTopic,
  assertTopicFilter,
  fixedRpcTopics,
  getProfileQos,
  isEcpsError,
  isIgnoredEventType,
  nodeSource,
  silentLogger,
  systemClock,
  type Clock,
  type EcpsEvent,
  type EventHandler,
  type Logger,
  type ProfileName,
  type PublishOptions,
  type QosLevel,
  type RandomSource,
  type RequestHandler,
  type RequestOptions,
  type RpcTopicScheme,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';
import { Delivery } from './delivery';
import { decodeEnvelopeFrom } from './envelope-cdr';
import { NATIVE_EVENTS, SAMPLE_TYPES, loadBinding, type NativeObject } from './native';
import { Participant } from './participant';
import { defaultLevelOf, readerQos, trafficClassOfTopic, writerQos, type QosLimits, type TrafficClass } from './qos-table';
import { ReaderPump } from './reader-pump';
import { DDS_TOPIC_ROOT, TopicRegistry, ddsFilter, ddsNameMatches } from './topic-names';
import { WriterPool } from './writer-pool';

export interface DdsTransportOptions {
  /** CloudEvents source `urn:ecps:<nodeId>` of the events this node produces (request/reply ends). */
  nodeId: string;
  /** DDS domain id. Default: the configuration's (0 unless it says otherwise). */
  domainId?: number;
  /**
   * A Cyclone DDS configuration (XML text or `file://...`) for the domain. Default: whatever `CYCLONEDDS_URI` names
   * (Cyclone's own default otherwise, which uses the external interface and multicast).
   */
  config?: string;
  /** Prepended verbatim to every ECPS topic, reply topics included (spec §9). */
  topicPrefix?: string;
  /** Sets `maxPayloadSize` (profile max_message_size + 4096) and the EAP staleness limit. Default `standard`. */
  profile?: ProfileName;
  maxPayloadSize?: number;
  /** Default deadline of `request`/`requestStream`; also the lifespan of request/reply samples. Default 30000. */
  requestTimeoutMs?: number;
  /** How long a `serve` handler may take. Default `requestTimeoutMs`. */
  handlerTimeoutMs?: number;
  /** Events one subscription may have waiting for its handler before its readers stop taking. Default 1024. */
  receiveQueueLimit?: number;
  /** Samples a KEEP_ALL reader or writer history holds (reliable ones push back beyond it). Default 4096. */
  historyLimit?: number;
  /** Samples per sender a reliable writer keeps for late-joining readers (request/reply and others). Default 16. */
  lateJoinerDepth?: number;
  /** Writes waiting for room (full histories, congested local readers) before publish fails with QUEUE_FULL. Default 10000. */
  maxPendingPublishes?: number;
  /** Writers kept open; the least recently used beyond this are closed. Default 1024. */
  maxWriters?: number;
  /** Cyclone write batching (process-wide): samples go out per packet and are flushed every turn. Default true. */
  writeBatching?: boolean;
  /** How long `close()` waits for reliable data to be acknowledged. Default 2000. */
  closeTimeoutMs?: number;
  /** Another build of the native binding (tests). */
  bindingPath?: string;
  logger?: Logger;
  clock?: Clock;
  random?: RandomSource;
}

/** Counters of one transport (`stats()`). */
export interface DdsTransportStats {
  published: number;
  received: number;
  /** EAP actions older than the profile's EAP timeout when they arrived (spec §5.2), not delivered. */
  droppedStale: number;
  droppedUndecodable: number;
  droppedTooLarge: number;
  /** Events waiting for their subscription's handler right now, and the most ever (per subscription). */
  queued: number;
  peakQueued: number;
  /** Samples Cyclone reported lost (best-effort gaps) or rejected (a full reader history) on our readers. */
  samplesLost: number;
  samplesRejected: number;
  /** Writes waiting for room right now. */
  pendingWrites: number;
  writeRetries: number;
  /** Native calls that handed Cyclone a batch of consecutive writes to one writer (at most 256 per call). */
  writeBatches: number;
  writers: number;
  readers: number;
}

/** The DDS transport: a {@link Transport} plus `stats()`. */
export interface DdsTransport extends Transport {
  stats(): DdsTransportStats;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_ROUTES = 10_000;

/** One subscribe() call: its handler queue and a reader per DDS topic it covers. */
interface DdsSubscription extends Subscription {
  readonly delivery: Delivery;
  readonly readers: Map<string, { pump: ReaderPump; handle: number; reader: NativeObject }>;
  readonly cls: TrafficClass;
  readonly level: QosLevel;
  /** The mapped filter of a wildcard subscription. */
  readonly pattern?: string;
  /** The topic handlers see, for a concrete subscription. */
  readonly topic?: string;
}

class CycloneTransport implements DdsTransport {
  readonly kind = 'dds';
  readonly maxPayloadSize: number;
  readonly rpcTopics: RpcTopicScheme = fixedRpcTopics;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly limits: QosLimits;
  private readonly staleAfterMs: number;
  private readonly registry = new TopicRegistry();
  private readonly rpc: PubSubRpc;
  private readonly subscriptions = new Set<DdsSubscription>();
  /** DDS topics of ECPS envelopes known in the domain (for wildcard filters). */
  private readonly knownTopics = new Set<string>();
  /** Topics published to, with what publishing needs of them (bounded: cleared when full). */
  private readonly routes = new Map<string, { ddsName: string; cls: TrafficClass }>();
  private readonly counters = { published: 0, received: 0, droppedStale: 0, droppedUndecodable: 0, droppedTooLarge: 0 };
  private participant: Participant | undefined;
  private writers: WriterPool | undefined;
  private discovery: { reader: NativeObject } | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: DdsTransportOptions) {
    loadBinding(options.bindingPath); // fails early, naming what to install
    nodeSource(options.nodeId); // validates the id
    this.prefix = options.topicPrefix ?? '';
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    const profileName = options.profile ?? 'standard';
    const profile = CONFORMANCE_PROFILES[profileName];
    if (!profile) throw new TransportError('CONFIG_INVALID', `unknown profile ${String(options.profile)}`);
    this.maxPayloadSize = options.maxPayloadSize ?? profile.maxMessageSizeBytes + ENVELOPE_HEADROOM_BYTES;
    this.staleAfterMs = getProfileQos(profileName, 'EAP').timeoutS * 1000;
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.limits = {
      maxSamples: Math.max(16, options.historyLimit ?? 4096),
      lateJoinerDepth: Math.max(1, options.lateJoinerDepth ?? 16),
      eapLifespanMs: this.staleAfterMs,
      rpcLifespanMs: requestTimeoutMs,
    };
    const bus = {
      publish: (topic: string, event: EcpsEvent, o?: PublishOptions) => this.send(topic, event, o, 'rpc'),
      subscribe: (filter: string, handler: EventHandler, o?: SubscribeOptions) => this.listen(filter, handler, o, 'rpc'),
    };
    this.rpc = new PubSubRpc(bus, {
      source: nodeSource(options.nodeId),
      logger: this.logger,
      topics: fixedRpcTopics,
      defaultTimeoutMs: requestTimeoutMs,
      ...(options.handlerTimeoutMs ? { handlerTimeoutMs: options.handlerTimeoutMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /** Creates the DDS participant (once). @throws TransportError `TRANSPORT_UNAVAILABLE`, `CONFIG_INVALID`, `UNAVAILABLE`. */
  async connect(): Promise<void> {
    this.ensureOpen();
    if (this.participant) return;
    const participant = new Participant({
      logger: this.logger,
      ...(this.options.domainId !== undefined ? { domainId: this.options.domainId } : {}),
      ...(this.options.config !== undefined ? { config: this.options.config } : {}),
      ...(this.options.bindingPath !== undefined ? { bindingPath: this.options.bindingPath } : {}),
    });
    const batching = this.options.writeBatching ?? true;
    participant.binding.setWriteBatch(batching);
    this.participant = participant;
    this.writers = new WriterPool(
      participant,
      {
        maxWriters: this.options.maxWriters ?? 1024,
        maxPending: this.options.maxPendingPublishes ?? 10_000,
        batching,
        onWriterEvent: (ddsName, _kind, policy) => this.reportIncompatible('writer', ddsName, policy),
      },
      (cls, level) => writerQos(cls, level, this.limits),
    );
  }

  stats(): DdsTransportStats {
    let readers = 0;
    let queued = 0;
    let peakQueued = 0;
    let samplesLost = 0;
    let samplesRejected = 0;
    for (const s of this.subscriptions) {
      readers += s.readers.size;
      queued += s.delivery.length;
      peakQueued = Math.max(peakQueued, s.delivery.peak);
      for (const { reader } of s.readers.values()) {
        const [, lost, rejected] = this.participant!.binding.readerStatus(reader);
        samplesLost += lost;
        samplesRejected += rejected;
      }
    }
    return {
      ...this.counters,
      queued,
      peakQueued,
      samplesLost,
      samplesRejected,
      pendingWrites: this.writers?.parked ?? 0,
      writeRetries: this.writers?.writeRetries ?? 0,
      writeBatches: this.writers?.writeBatches ?? 0,
      writers: this.writers?.size ?? 0,
      readers,
    };
  }

  publish(topic: string, event: EcpsEvent, options: PublishOptions = {}): Promise<void> {
    return this.send(topic, event, options, undefined);
  }

  subscribe(filter: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    return this.listen(filter, handler, options, undefined);
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
   * Waits (up to `closeTimeoutMs`) for reliable data to be acknowledged, fails pending requests and waiting
   * publishes with `CLOSED`, then deletes the participant and everything in it. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.rpc.close();
    const closedError = new TransportError('CLOSED', 'transport closed');
    for (const sub of this.subscriptions) this.dropSubscription(sub);
    if (this.writers) {
      const acknowledged = await this.writers.settle(this.options.closeTimeoutMs ?? 2000);
      if (!acknowledged) this.logger.warn('dds: closing with reliable data not yet acknowledged');
      this.writers.close(closedError);
    }
    this.participant?.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new TransportError('CLOSED', 'transport closed');
  }

  private ready(): { participant: Participant; writers: WriterPool } {
    this.ensureOpen();
    if (!this.participant || !this.writers) throw new TransportError('NOT_CONNECTED', 'call connect() first');
    return { participant: this.participant, writers: this.writers };
  }

  /** @param rpcClass `'rpc'` for request/reply traffic; otherwise the topic decides the class. */
  private send(topic: string, event: EcpsEvent, options: PublishOptions = {}, rpcClass: 'rpc' | undefined): Promise<void> {
    try {
      const { writers } = this.ready();
      const route = this.route(topic);
      if (event.data.length > this.maxPayloadSize) {
        throw new TransportError('MESSAGE_TOO_LARGE', `event data is ${event.data.length} bytes; the limit is ${this.maxPayloadSize}`, {
          details: { size: event.data.length, limit: this.maxPayloadSize, topic },
        });
      }
      const written = writers.write(route.ddsName, rpcClass ?? route.cls, options.qos ?? defaultLevelOf(event.type), event);
      this.counters.published++;
      return written;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A topic's DDS name and traffic class, worked out (and the topic validated) once per topic published to. */
  private route(topic: string): { ddsName: string; cls: TrafficClass } {
    let route = this.routes.get(topic);
    if (route === undefined) {
      assertTopic(topic);
      const ddsName = this.registry.resolve(this.prefix + topic);
      this.topicSeen(ddsName);
      route = { ddsName, cls: trafficClassOfTopic(topic) };
      if (this.routes.size >= MAX_ROUTES) this.routes.clear();
      this.routes.set(topic, route);
    }
    return route;
  }

  private async listen(filter: string, handler: EventHandler, options: SubscribeOptions = {}, rpcClass: 'rpc' | undefined): Promise<Subscription> {
    const { participant } = this.ready();
    assertTopicFilter(filter);
    const wildcard = filter.includes('+') || filter.includes('#');
    const cls: TrafficClass = rpcClass ?? (wildcard ? 'other' : trafficClassOfTopic(filter));
    const delivery = new Delivery(handler, Math.max(1, this.options.receiveQueueLimit ?? 1024), this.logger, filter);
    const readers: DdsSubscription['readers'] = new Map();
    const sub: DdsSubscription = {
      filter,
      delivery,
      readers,
      cls,
      level: options.qos ?? 1,
      ...(wildcard ? { pattern: ddsFilter(this.prefix + filter) } : { topic: filter }),
      unsubscribe: async () => {
        if (this.subscriptions.delete(sub)) this.dropSubscription(sub);
      },
    };
    delivery.onRoom = () => {
      for (const { pump } of readers.values()) pump.resume();
    };
    this.subscriptions.add(sub);
    try {
      if (sub.pattern === undefined) {
        this.attach(participant, sub, this.registry.resolve(this.prefix + filter));
      } else {
        this.watchPublications(participant);
        for (const name of this.knownTopics) if (ddsNameMatches(sub.pattern, name)) this.attach(participant, sub, name);
      }
    } catch (error) {
      this.subscriptions.delete(sub);
      this.dropSubscription(sub);
      throw error;
    }
    return sub;
  }

  /** Creates the reader of `sub` on the DDS topic `ddsName`. */
  private attach(participant: Participant, sub: DdsSubscription, ddsName: string): void {
    if (sub.readers.has(ddsName)) return;
    const topic = participant.acquireTopic(ddsName, SAMPLE_TYPES.envelope);
    const qos = readerQos(sub.cls, sub.level, this.limits);
    const topicForHandler = sub.topic ?? this.handlerTopic(ddsName);
    let created: { reader: NativeObject; handle: number };
    try {
      created = participant.createReader(topic, qos, (kind, value) => {
        if (kind === NATIVE_EVENTS.data) sub.readers.get(ddsName)?.pump.onEvent(kind);
        else if (kind === NATIVE_EVENTS.requestedIncompatibleQos) this.reportIncompatible('reader', ddsName, value);
        else if (kind === NATIVE_EVENTS.sampleLost) this.logger.debug('dds: samples lost', { topic: ddsName, count: value });
      });
    } catch (error) {
      participant.releaseTopic(ddsName, SAMPLE_TYPES.envelope);
      throw new TransportError('INTERNAL', `cannot create a DDS reader for ${ddsName}: ${String(error)}`, { cause: error });
    }
    const guardLocal = sub.level > 0 && qos.historyDepth === -1;
    const pump = new ReaderPump(
      participant.binding,
      created.reader,
      ddsName,
      { sample: (buf, start, end, _info, reused) => this.receive(sub, topicForHandler, buf, start, end, reused), get room() { return sub.delivery.room; } },
      qos.maxSamples ?? this.limits.maxSamples,
      guardLocal,
    );
    sub.readers.set(ddsName, { pump, ...created });
    pump.onEvent(NATIVE_EVENTS.data); // samples that arrived before the listener was routed
  }

  private dropSubscription(sub: DdsSubscription): void {
    sub.delivery.stop();
    for (const [ddsName, { pump, reader, handle }] of sub.readers) {
      pump.stop();
      this.participant?.deleteReader(reader, handle);
      this.participant?.releaseTopic(ddsName, SAMPLE_TYPES.envelope);
    }
    sub.readers.clear();
  }

  private receive(sub: DdsSubscription, topic: string, buf: Buffer, start: number, end: number, reused: boolean): void {
    let event: EcpsEvent;
    try {
      event = decodeEnvelopeFrom(buf, start, end, reused);
    } catch (error) {
      if (!isEcpsError(error, 'DECODE_ERROR')) throw error;
      this.counters.droppedUndecodable++;
      this.logger.warn('dds: undecodable sample dropped', { topic, reason: error.message });
      return;
    }
    if (isIgnoredEventType(event.type)) return;
    if (event.data.length > this.maxPayloadSize) {
      this.counters.droppedTooLarge++;
      this.logger.warn('dds: oversized event dropped', { topic, size: event.data.length, limit: this.maxPayloadSize });
      return;
    }
    if (event.type === EVENT_TYPES.eap && this.isStale(event.time)) {
      this.counters.droppedStale++;
      this.logger.warn('dds: stale EAP action dropped', { topic, id: event.id, time: event.time, limitMs: this.staleAfterMs });
      return;
    }
    this.counters.received++;
    sub.delivery.push(event, topic);
  }

  /** Spec §5.2: an action older than the profile's EAP timeout is stale; one without a time is not. */
  private isStale(time: string | undefined): boolean {
    if (time === undefined) return false;
    const at = Date.parse(time);
    return Number.isFinite(at) && this.clock.now() - at > this.staleAfterMs;
  }

  /** The ECPS topic a wildcard handler is given for a DDS topic. */
  private handlerTopic(ddsName: string): string {
    const topic = this.registry.ecpsTopic(ddsName);
    if (topic.startsWith(this.prefix)) return topic.slice(this.prefix.length);
    const mappedPrefix = ddsFilter(this.prefix);
    return topic.startsWith(mappedPrefix) ? topic.slice(mappedPrefix.length) : topic;
  }

  /** A topic is in use (written here, or discovered): wildcard subscriptions that match it get a reader on it. */
  private topicSeen(ddsName: string): void {
    if (this.knownTopics.has(ddsName)) return;
    this.knownTopics.add(ddsName);
    const participant = this.participant;
    if (!participant) return;
    for (const sub of this.subscriptions) {
      if (sub.pattern === undefined || !ddsNameMatches(sub.pattern, ddsName)) continue;
      try {
        this.attach(participant, sub, ddsName);
      } catch (error) {
        this.logger.warn('dds: cannot follow a discovered topic', { topic: ddsName, filter: sub.filter, error: String(error) });
      }
    }
  }

  /** Follows DCPSPublication so wildcard subscriptions see the topics other participants write. */
  private watchPublications(participant: Participant): void {
    if (this.discovery) return;
    const reader = participant.createPublicationReader((kind) => {
      if (kind !== NATIVE_EVENTS.data || this.closed) return;
      for (const [name, type] of participant.binding.takePublications(reader)) {
        if (type === ENVELOPE_TYPE_NAME && name.startsWith(DDS_TOPIC_ROOT)) this.topicSeen(name);
      }
    });
    this.discovery = { reader };
    for (const [name, type] of participant.binding.takePublications(reader)) {
      if (type === ENVELOPE_TYPE_NAME && name.startsWith(DDS_TOPIC_ROOT)) this.topicSeen(name);
    }
  }

  private readonly warnedIncompatible = new Set<string>();

  private reportIncompatible(side: 'reader' | 'writer', ddsName: string, policy: number): void {
    const key = `${side}:${ddsName}:${policy}`;
    if (this.warnedIncompatible.has(key) || this.warnedIncompatible.size > 1000) return;
    this.warnedIncompatible.add(key);
    const name = POLICY_NAMES[policy] ?? `policy ${policy}`;
    this.logger.warn(`dds: a ${side} on ${ddsName} does not match a peer (incompatible ${name})`, {
      topic: ddsName,
      policy: name,
      hint:
        name === 'RELIABILITY' || name === 'DURABILITY'
          ? 'a RELIABLE subscription does not receive BEST_EFFORT traffic (LTP): subscribe with { qos: 0 }'
          : undefined,
    });
  }
}

/** The type name idlc gives ecps::dds::Envelope, as discovery reports it. */
const ENVELOPE_TYPE_NAME = 'ecps::dds::Envelope';

/** DDS QoS policy ids (DDS_*_QOS_POLICY_ID) as Cyclone reports incompatibilities. */
const POLICY_NAMES: Record<number, string> = {
  1: 'USER_DATA', 2: 'DURABILITY', 3: 'PRESENTATION', 4: 'DEADLINE', 5: 'LATENCY_BUDGET', 6: 'OWNERSHIP',
  7: 'OWNERSHIP_STRENGTH', 8: 'LIVELINESS', 9: 'TIME_BASED_FILTER', 10: 'PARTITION', 11: 'RELIABILITY',
  12: 'DESTINATION_ORDER', 13: 'HISTORY', 14: 'RESOURCE_LIMITS', 23: 'DATA_REPRESENTATION', 24: 'TYPE_CONSISTENCY',
};

/**
 * An ECPS transport over Cyclone DDS. Nothing touches the network until `connect()`.
 * @throws TransportError `TRANSPORT_UNAVAILABLE` when libddsc or the native binding is missing (the message names
 *   what to install); `CONFIG_INVALID` for an unknown profile; ValidationError `INVALID_ARGUMENT` for a bad node id.
 */
export function ddsTransport(options: DdsTransportOptions): DdsTransport {
  return new CycloneTransport(options);
}
