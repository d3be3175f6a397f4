// SPDX-License-Identifier: Apache-2.0
// LTP over any Transport: publish tensors as one DATA frame or as chunks, receive and reassemble them, acknowledge
// chunked tensors and repeat the chunks a receiver reports missing (spec §4.4–§4.7, §9).
import {
  DEFAULT_QOS,
  EVENT_TYPES,
  EcpsError,
  ValidationError,
  assertNodeId,
  cryptoRandom,
  getProfile,
  isIgnoredEventType,
  nodeIdFromSource,
  nodeSource,
  silentLogger,
  systemClock,
  type Clock,
  type EcpsEvent,
  type LtpCodecName,
  type Logger,
  type ProfileName,
  type QosLevel,
  type RandomSource,
  type Subscription,
  type TimerHandle,
  type Transport,
} from '@ecps/core';
import { decodeEvent, encodeEvent } from '@ecps/serialization';
import { DEFAULT_MAX_CHUNK_SIZE, splitIntoChunks } from './chunking';
import { compressTensor, dataFrame, decodeTensorFrame, resolveCodec } from './frame';
import { Reassembler, type ReassemblerOptions, type ReassemblyReport, type ReassemblyStats, type ReceivedTensor } from './reassembler';
import type { Tensor } from './tensor';

export interface LtpOptions {
  transport: Transport;
  /** This node's id (`[A-Za-z0-9._-]{1,64}`); events carry `urn:ecps:<nodeId>`. */
  nodeId: string;
  /** Conformance profile (default `standard`): bounds `maxChunkSize` by its `max_message_size`. */
  profile?: ProfileName;
  /** Default `min(1 MiB, profile max_message_size, transport payload limit − envelope)`. */
  maxChunkSize?: number;
  /** Default codec for `publish` (default `zstd`: the only one reference peers understand). */
  codec?: LtpCodecName;
  level?: number;
  /** QoS for tensors, chunks and acks (default LTP's BEST_EFFORT = 0). */
  qos?: QosLevel;
  /** Selective-repeat rounds per tensor (default LTP `retry_count` = 1). */
  retryCount?: number;
  /** How long a sender keeps a chunked tensor's chunks for repeats after its last chunk (default 5000 ms). */
  retainMs?: number;
  /** Bytes of chunks a sender keeps for repeats (default 256 MiB; oldest released first). */
  maxRetainedBytes?: number;
  /** Receiver limits and timers (spec §4.6 defaults). */
  reassembly?: Omit<ReassemblerOptions, 'clock' | 'maxChunkSize'>;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

export interface PublishTensorOptions {
  frameId?: string;
  timestampNs?: bigint;
  codec?: LtpCodecName;
  level?: number;
  /** Extra DATA-frame attributes. */
  attributes?: Readonly<Record<string, string>>;
}

export interface PublishResult {
  tensorId: number;
  /** 0 when sent as one DATA frame. */
  chunks: number;
  /** Payload bytes after compression. */
  payloadBytes: number;
}

export interface LtpSubscribeOptions {
  /** A partly received or undecodable tensor was given up (timeout, eviction, decode error). */
  onReport?(report: ReassemblyReport): void;
  /** A DATA frame or chunk was rejected; `error` is a typed `EcpsError` for frame errors. */
  onError?(error: unknown, event: EcpsEvent): void;
}

export interface LtpSubscription extends Subscription {
  stats(): ReassemblyStats;
}

export interface LtpSenderStats {
  published: number;
  chunksSent: number;
  chunksRepeated: number;
  acksOk: number;
  acksFailed: number;
  retainedBytes: number;
}

export interface Ltp {
  /**
   * Publishes a tensor on `topic`: one DATA frame when the compressed payload fits `maxChunkSize`, else chunks
   * (kept for selective repeat). Throws the encoder's validation errors and the transport's errors.
   */
  publish(topic: string, tensor: Tensor, options?: PublishTensorOptions): Promise<PublishResult>;
  /** Delivers every valid tensor published on `filter` (DATA frames and reassembled chunks) to `handler`. */
  subscribe(filter: string, handler: (tensor: ReceivedTensor) => void | Promise<void>, options?: LtpSubscribeOptions): Promise<LtpSubscription>;
  stats(): LtpSenderStats;
  /** Stops subscriptions and timers; the transport stays open (it is the caller's). */
  close(): Promise<void>;
}

interface Retained {
  topic: string;
  events: EcpsEvent[];
  bytes: number;
  rounds: number;
  timer?: TimerHandle;
}

/** The topic acks for `sender` are sent to: `{ltp-topic}/ack/{sender-node-id}` (spec §4.7). */
export function ackTopic(topic: string, senderNodeId: string): string {
  return `${topic}/ack/${senderNodeId}`;
}

/**
 * Creates an LTP endpoint on a transport. Throws `INVALID_ARGUMENT` for a bad node id or chunk size and
 * `INVALID_COMPRESSION_LEVEL`/`UNSUPPORTED` for a bad default codec.
 */
export function createLtp(options: LtpOptions): Ltp {
  const { transport } = options;
  const nodeId = assertNodeId(options.nodeId);
  const source = nodeSource(nodeId);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? silentLogger;
  const profile = getProfile(options.profile ?? 'standard');
  const qos = options.qos ?? (DEFAULT_QOS.LTP.reliability as QosLevel);
  const retryCount = options.retryCount ?? DEFAULT_QOS.LTP.retryCount;
  const retainMs = options.retainMs ?? 5000;
  const maxRetainedBytes = options.maxRetainedBytes ?? 256 * 1024 * 1024;
  const maxChunkSize =
    options.maxChunkSize ?? Math.min(DEFAULT_MAX_CHUNK_SIZE, profile.maxMessageSizeBytes, transport.maxPayloadSize - 1024);
  const defaults = resolveCodec(options.codec, options.level);
  // spec §3: a DATA payload may not exceed the profile's max_message_size (or our own larger frame size, if set)
  const maxPayloadBytes = Math.max(profile.maxMessageSizeBytes, maxChunkSize);
  const maxTensorBytes = options.reassembly?.maxTensorBytes;
  if (maxChunkSize > transport.maxPayloadSize) {
    throw new ValidationError('INVALID_ARGUMENT', `maxChunkSize ${maxChunkSize} exceeds the transport's ${transport.maxPayloadSize}-byte limit`);
  }

  let nextTensorId = random.int(2 ** 32) >>> 0;
  const retained = new Map<number, Retained>();
  let retainedBytes = 0;
  const ackSubscriptions = new Map<string, Promise<Subscription>>();
  const subscriptions = new Set<LtpSubscription>();
  const counters = { published: 0, chunksSent: 0, chunksRepeated: 0, acksOk: 0, acksFailed: 0 };
  let closed = false;

  const release = (tensorId: number) => {
    const entry = retained.get(tensorId);
    if (!entry) return;
    retained.delete(tensorId);
    retainedBytes -= entry.bytes;
    if (entry.timer) clock.clearTimeout(entry.timer);
  };

  const onAck = async (event: EcpsEvent) => {
    if (event.type !== EVENT_TYPES.ltpAck) return;
    const ack = decodeEvent('LTPAck', event);
    const tensorId = ack.header?.sequenceNumber;
    const entry = tensorId === undefined ? undefined : retained.get(tensorId);
    if (tensorId === undefined || !entry) return;
    if (ack.success) {
      counters.acksOk++;
      release(tensorId);
      return;
    }
    counters.acksFailed++;
    logger.debug('ltp: negative ack', { tensorId, message: ack.message, missing: ack.missingChunks.length });
    if (ack.message !== 'gap' || entry.rounds >= retryCount) {
      if (ack.message !== 'gap') release(tensorId);
      return;
    }
    entry.rounds++;
    for (const index of ack.missingChunks) {
      const chunkEvent = entry.events[index];
      if (!chunkEvent) continue;
      await transport.publish(entry.topic, chunkEvent, { qos });
      counters.chunksRepeated++;
    }
  };

  const ensureAckSubscription = (topic: string) => {
    const filter = ackTopic(topic, nodeId);
    let sub = ackSubscriptions.get(filter);
    if (!sub) {
      sub = transport.subscribe(
        filter,
        (event) =>
          onAck(event).catch((error: unknown) => logger.warn('ltp: bad ack', { error: String(error) })),
        { qos },
      );
      ackSubscriptions.set(filter, sub);
    }
    return sub;
  };

  const retain = (tensorId: number, entry: Retained) => {
    release(tensorId);
    while (retainedBytes + entry.bytes > maxRetainedBytes && retained.size > 0) {
      release(retained.keys().next().value as number);
    }
    if (entry.bytes > maxRetainedBytes) return;
    retained.set(tensorId, entry);
    retainedBytes += entry.bytes;
  };

  return {
    async publish(topic, tensor, publishOptions = {}) {
      if (closed) throw new EcpsError('CLOSED', 'LTP endpoint is closed');
      const codec = publishOptions.codec ?? defaults.codec;
      const level = publishOptions.level ?? (publishOptions.codec === undefined ? defaults.level : undefined);
      const compressed = await compressTensor(tensor, {
        codec,
        ...(level === undefined ? {} : { level }),
        ...(publishOptions.frameId === undefined ? {} : { frameId: publishOptions.frameId }),
        ...(publishOptions.timestampNs === undefined ? {} : { timestampNs: publishOptions.timestampNs }),
        clock,
      });
      const tensorId = nextTensorId;
      nextTensorId = (nextTensorId + 1) >>> 0;
      counters.published++;
      if (compressed.payload.length <= maxChunkSize) {
        const message = dataFrame(compressed, tensorId, publishOptions.attributes);
        await transport.publish(topic, encodeEvent('LTP', message, { source, clock, random }), { qos });
        return { tensorId, chunks: 0, payloadBytes: compressed.payload.length };
      }
      await ensureAckSubscription(topic);
      const chunks = splitIntoChunks(compressed, tensorId, maxChunkSize);
      const events = chunks.map((chunk) => encodeEvent('LTPChunk', chunk, { source, clock, random }));
      const entry: Retained = { topic, events, bytes: compressed.payload.length, rounds: 0 };
      retain(tensorId, entry);
      for (const event of events) {
        await transport.publish(topic, event, { qos });
        counters.chunksSent++;
      }
      if (retained.get(tensorId) === entry) entry.timer = clock.setTimeout(() => release(tensorId), retainMs);
      return { tensorId, chunks: chunks.length, payloadBytes: compressed.payload.length };
    },

    async subscribe(filter, handler, subscribeOptions = {}) {
      if (closed) throw new EcpsError('CLOSED', 'LTP endpoint is closed');
      const onError = (error: unknown, event: EcpsEvent) => {
        logger.debug('ltp: rejected frame', { error: String(error), source: event.source });
        subscribeOptions.onError?.(error, event);
      };
      let current: EcpsEvent | undefined;
      const reassembler = new Reassembler(
        {
          onTensor: handler,
          onAck: (ack, sender, topic) => {
            const senderId = nodeIdFromSource(sender);
            if (!senderId || closed) return;
            const event = encodeEvent('LTPAck', ack, { source, clock, random });
            transport.publish(ackTopic(topic, senderId), event, { qos }).catch((error: unknown) => logger.warn('ltp: ack not sent', { error: String(error) }));
          },
          onReport: (report) => {
            logger.warn('ltp: tensor dropped', { reason: report.reason, sender: report.sender, missing: report.missingChunks.length });
            subscribeOptions.onReport?.(report);
          },
          onDiscard: (error) => current && onError(error, current),
        },
        { ...options.reassembly, clock, maxChunkSize },
      );
      const inner = await transport.subscribe(
        filter,
        async (event, topic) => {
          if (isIgnoredEventType(event.type)) return;
          try {
            if (event.type === EVENT_TYPES.ltp) {
              const decoded = await decodeTensorFrame(decodeEvent('LTP', event), { maxPayloadBytes, maxTensorBytes });
              await handler({ ...decoded, sender: event.source, reassembled: false, totalChunks: 0 });
            } else if (event.type === EVENT_TYPES.ltpChunk) {
              current = event;
              await reassembler.accept(decodeEvent('LTPChunk', event), event.source, topic);
            }
          } catch (error) {
            onError(error, event);
          }
        },
        { qos },
      );
      const subscription: LtpSubscription = {
        filter,
        stats: () => reassembler.stats(),
        async unsubscribe() {
          subscriptions.delete(subscription);
          reassembler.close();
          await inner.unsubscribe();
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },

    stats: () => ({ ...counters, retainedBytes }),

    async close() {
      if (closed) return;
      closed = true;
      for (const id of [...retained.keys()]) release(id);
      await Promise.allSettled([...subscriptions].map((s) => s.unsubscribe()));
      await Promise.allSettled([...ackSubscriptions.values()].map(async (s) => (await s).unsubscribe()));
    },
  };
}
