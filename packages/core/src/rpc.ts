// SPDX-License-Identifier: Apache-2.0
// Request/reply and server streaming over plain publish/subscribe, with the topic schemes of spec §9:
//   request  -> `{service}/request`           (extension `correlationid`)
//   reply    -> `response/{correlation}`       (DDS: `{service}/reply`, filtered on `correlationid`)
//   stream   -> `{service}/stream/{correlation}` (DDS: `{service}/stream`), ended by `ecps.stream.end` (an Ack;
//               success=false carries the error)
// Transports without a native RPC mechanism compose this; those with one (gRPC) may map it natively.
// Served requests have a deadline, and nothing that fails on the way back is dropped without a word to the logger.
import { decodeAck, encodeAck } from './ack';
import { AsyncQueue } from './async-queue';
import { systemClock, type Clock } from './clock';
import { ERROR_CODES, isEcpsError, TransportError, type EcpsErrorCode } from './errors';
import { EVENT_TYPES, RPC_EVENT_TYPES, eventTime, type EcpsEvent } from './event';
import { uuidv4 } from './ids';
import { silentLogger, type Logger } from './logger';
import { cryptoRandom, type RandomSource } from './random';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  type PublishOptions,
  type RequestHandler,
  type RequestOptions,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type EventHandler,
} from './transport';

/** The publish/subscribe half of a transport, which is all the RPC layer needs. */
export interface PubSub {
  publish(topic: string, event: EcpsEvent, options?: PublishOptions): Promise<void>;
  subscribe(filter: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
}

export interface PubSubRpcOptions {
  /** CloudEvents source of this node (for the end-of-stream events it produces). */
  source: string;
  clock?: Clock;
  random?: RandomSource;
  defaultTimeoutMs?: number;
  /**
   * How long a `serve` handler may take (default `defaultTimeoutMs`, else 30 s). Past it the requester gets an error
   * reply (`REMOTE_ERROR` with `details.remoteCode` `TIMEOUT`) and the handler's late reply is dropped.
   */
  handlerTimeoutMs?: number;
  /** Most events buffered for a slow stream consumer before the stream fails with `QUEUE_FULL`. */
  maxStreamBuffer?: number;
  /** Replies, stream ends and cancels that could not be sent, and handlers past their deadline, are reported at warn. */
  logger?: Logger;
  /** Where requests, replies and stream events go. Default {@link perCorrelationRpcTopics} (MQTT and the like). */
  topics?: RpcTopicScheme;
}

/**
 * The topics one request/reply or server-stream call uses. Reply and stream topics either name the correlation
 * (a subscription per call) or are fixed per service (`shared`: one subscription per service, kept until close,
 * and replies are told apart by their `correlationid` extension), which suits wires where a topic is expensive (DDS).
 */
export interface RpcTopicScheme {
  request(service: string): string;
  reply(service: string, correlation: string): string;
  stream(service: string, correlation: string): string;
  readonly shared: boolean;
}

/** Topic helpers of the spec §9 scheme. */
export const rpcTopics = {
  request: (service: string) => `${service}/request`,
  reply: (correlation: string) => `response/${correlation}`,
  stream: (service: string, correlation: string) => `${service}/stream/${correlation}`,
};

/** Spec §9 for MQTT and other brokers: `response/{correlation}` and `{service}/stream/{correlation}`. */
export const perCorrelationRpcTopics: RpcTopicScheme = {
  request: rpcTopics.request,
  reply: (_service, correlation) => rpcTopics.reply(correlation),
  stream: rpcTopics.stream,
  shared: false,
};

/** Spec §9 for DDS: the fixed topics `{service}/request`, `{service}/reply` and `{service}/stream`. */
export const fixedRpcTopics: RpcTopicScheme = {
  request: rpcTopics.request,
  reply: (service) => `${service}/reply`,
  stream: (service) => `${service}/stream`,
  shared: true,
};

/** One kept subscription to a fixed reply or stream topic, handing each event to the call it correlates to. */
interface SharedTopic {
  subscription: Promise<Subscription>;
  calls: Map<string, EventHandler>;
}

export function correlationOf(event: EcpsEvent): string | undefined {
  return event.extensions?.['correlationid'];
}

export function withCorrelation(event: EcpsEvent, correlation: string): EcpsEvent {
  return { ...event, extensions: { ...event.extensions, correlationid: correlation } };
}

/** Request/reply and server streaming on top of any {@link PubSub}. */
export class PubSubRpc {
  private closed = false;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly inFlight = new Set<(error: unknown) => void>();
  private readonly serverStreams = new Map<string, AbortController>();
  private readonly shared = new Map<string, SharedTopic>();
  private readonly pending = new Set<string>();
  private readonly topics: RpcTopicScheme;

  constructor(
    private readonly bus: PubSub,
    private readonly options: PubSubRpcOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.logger = options.logger ?? silentLogger;
    this.topics = options.topics ?? perCorrelationRpcTopics;
  }

  async request(service: string, request: EcpsEvent, options: RequestOptions = {}): Promise<EcpsEvent> {
    this.ensureOpen();
    const correlation = uuidv4(this.random);
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.pending.add(correlation);
    let settle!: { resolve: (e: EcpsEvent) => void; reject: (e: unknown) => void };
    const reply = new Promise<EcpsEvent>((resolve, reject) => (settle = { resolve, reject }));
    reply.catch(() => undefined); // a failing publish is reported instead; the reply must not be an unhandled rejection
    const sub = await this.listen(this.topics.reply(service, correlation), correlation, (event) => {
      if (event.type === EVENT_TYPES.streamEnd) settle.reject(remoteError(service, event));
      else settle.resolve(event);
    });
    const stop = this.guard(service, timeoutMs, options.signal, settle.reject);
    try {
      await this.bus.publish(this.topics.request(service), withCorrelation(request, correlation), {
        qos: options.qos ?? 1,
        expirySeconds: Math.ceil(timeoutMs / 1000),
      });
      return await reply;
    } finally {
      stop();
      this.pending.delete(correlation);
      await sub.unsubscribe().catch((error: unknown) => this.logger.debug('rpc: reply subscription not removed', { service, error: String(error) }));
    }
  }

  async serve(service: string, handler: RequestHandler): Promise<Subscription> {
    this.ensureOpen();
    return this.bus.subscribe(this.topics.request(service), (request) => {
      const correlation = correlationOf(request);
      if (!correlation || request.type === RPC_EVENT_TYPES.streamCancel) return;
      // Requests are answered concurrently: one slow request must not hold up the next.
      void this.answer(service, correlation, request, handler);
    });
  }

  /** Runs one served request under its deadline and sends the reply, or an error reply when that fails. */
  private async answer(service: string, correlation: string, request: EcpsEvent, handler: RequestHandler): Promise<void> {
    const timeoutMs = this.options.handlerTimeoutMs ?? this.options.defaultTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    let late = false;
    const deadline = this.clock.setTimeout(() => {
      late = true;
      this.logger.warn('rpc: handler missed its deadline', { service, timeoutMs });
      void this.reply(service, correlation, this.endEvent(correlation, false, `TIMEOUT: ${service} handler did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    let reply: EcpsEvent;
    try {
      reply = await handler(request);
    } catch (error) {
      reply = this.endEvent(correlation, false, errorMessage(error));
    }
    this.clock.clearTimeout(deadline);
    if (late) {
      this.logger.warn('rpc: late reply dropped', { service });
      return;
    }
    await this.reply(service, correlation, reply);
  }

  /** Publishes a reply; when that fails, tells the requester with a small error reply instead of leaving it waiting. */
  private async reply(service: string, correlation: string, reply: EcpsEvent): Promise<void> {
    if (this.closed) return;
    try {
      await this.bus.publish(this.topics.reply(service, correlation), withCorrelation(reply, correlation), { qos: 1 });
      return;
    } catch (error) {
      this.logger.warn('rpc: reply not sent', { service, error: String(error) });
      if (reply.type === EVENT_TYPES.streamEnd || this.closed) return;
      const end = this.endEvent(correlation, false, `${errorMessage(error)} (the reply could not be sent)`);
      await this.bus
        .publish(this.topics.reply(service, correlation), end, { qos: 1 })
        .catch((second: unknown) => this.logger.warn('rpc: error reply not sent', { service, error: String(second) }));
    }
  }

  async *requestStream(service: string, request: EcpsEvent, options: RequestOptions = {}): AsyncGenerator<EcpsEvent> {
    this.ensureOpen();
    const correlation = uuidv4(this.random);
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const queue = new AsyncQueue<EcpsEvent>(this.options.maxStreamBuffer ?? 10_000);
    this.pending.add(correlation);
    const sub = await this.listen(this.topics.stream(service, correlation), correlation, (event) => {
      if (event.type !== EVENT_TYPES.streamEnd) return queue.push(event);
      const ack = decodeAck(event.data);
      if (ack.success) queue.end();
      else queue.fail(remoteError(service, event));
    });
    const stop = this.guard(service, timeoutMs, options.signal, (e) => queue.fail(e));
    let finished = false;
    try {
      await this.bus.publish(this.topics.request(service), withCorrelation(request, correlation), {
        qos: options.qos ?? 1,
        expirySeconds: Math.ceil(timeoutMs / 1000),
      });
      yield* queue;
      finished = true;
    } finally {
      stop();
      this.pending.delete(correlation);
      if (!finished && !this.closed) {
        // Tell the server to stop producing; best effort, the stream is abandoned either way.
        const cancel: EcpsEvent = {
          id: uuidv4(this.random),
          source: this.options.source,
          type: RPC_EVENT_TYPES.streamCancel,
          time: eventTime(this.clock.now()),
          data: new Uint8Array(0),
        };
        await this.bus
          .publish(this.topics.request(service), withCorrelation(cancel, correlation), { qos: 1 })
          .catch((error: unknown) => this.logger.warn('rpc: stream cancel not sent', { service, error: String(error) }));
      }
      await sub.unsubscribe().catch((error: unknown) => this.logger.debug('rpc: stream subscription not removed', { service, error: String(error) }));
    }
  }

  async serveStream(service: string, handler: StreamHandler): Promise<Subscription> {
    this.ensureOpen();
    return this.bus.subscribe(this.topics.request(service), (request) => {
      const correlation = correlationOf(request);
      if (!correlation) return;
      if (request.type === RPC_EVENT_TYPES.streamCancel) {
        this.serverStreams.get(correlation)?.abort();
        return;
      }
      const controller = new AbortController();
      this.serverStreams.set(correlation, controller);
      const topic = this.topics.stream(service, correlation);
      void (async () => {
        let end: EcpsEvent;
        try {
          for await (const event of handler(request, controller.signal)) {
            if (controller.signal.aborted) break;
            await this.bus.publish(topic, withCorrelation(event, correlation), { qos: 1 });
          }
          end = this.endEvent(correlation, true, 'ok');
        } catch (error) {
          end = this.endEvent(correlation, false, errorMessage(error));
        } finally {
          this.serverStreams.delete(correlation);
        }
        if (controller.signal.aborted || this.closed) return;
        await this.bus.publish(topic, end, { qos: 1 }).catch((error: unknown) => this.logger.warn('rpc: stream end not sent', { service, error: String(error) }));
      })();
    });
  }

  /**
   * Whether a request or stream of this endpoint is waiting for events with `correlation`. Lets a wrapper skip work
   * (signature checks) for the events of other callers that fixed reply topics also bring.
   */
  awaits(correlation: string | undefined): boolean {
    return correlation !== undefined && this.pending.has(correlation);
  }

  /** Fails every pending request and stream with `CLOSED` and aborts server streams. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new TransportError('CLOSED', 'transport closed');
    for (const fail of [...this.inFlight]) fail(error);
    for (const controller of this.serverStreams.values()) controller.abort();
    this.serverStreams.clear();
    for (const topic of this.shared.values()) {
      void topic.subscription.then((s) => s.unsubscribe()).catch(() => undefined);
    }
    this.shared.clear();
  }

  /**
   * Subscribes `handler` to the events of one call on `topic`: a subscription of its own (removed by unsubscribe),
   * or, with a shared scheme, a place in the topic's kept subscription (unsubscribe gives the place up).
   */
  private async listen(topic: string, correlation: string, handler: EventHandler): Promise<Subscription> {
    const forCall: EventHandler = (event, t) => (correlationOf(event) === correlation ? handler(event, t) : undefined);
    if (!this.topics.shared) return this.bus.subscribe(topic, forCall, { qos: 1 });
    let entry = this.shared.get(topic);
    if (!entry) {
      const calls = new Map<string, EventHandler>();
      const subscription = this.bus.subscribe(
        topic,
        (event, t) => {
          const correlationId = correlationOf(event);
          return correlationId === undefined ? undefined : calls.get(correlationId)?.(event, t);
        },
        { qos: 1 },
      );
      entry = { subscription, calls };
      this.shared.set(topic, entry);
      subscription.catch(() => this.shared.get(topic) === entry && this.shared.delete(topic));
    }
    await entry.subscription;
    const { calls } = entry;
    calls.set(correlation, forCall);
    return { filter: topic, unsubscribe: async () => void calls.delete(correlation) };
  }

  private ensureOpen(): void {
    if (this.closed) throw new TransportError('CLOSED', 'transport closed');
  }

  /** Arms the deadline, the abort signal and close(); returns the disarm function. */
  private guard(service: string, timeoutMs: number, signal: AbortSignal | undefined, fail: (e: unknown) => void) {
    const timer = this.clock.setTimeout(
      () => fail(new TransportError('TIMEOUT', `${service}: no reply within ${timeoutMs} ms`, { details: { service, timeoutMs } })),
      timeoutMs,
    );
    const onAbort = () => fail(new TransportError('CANCELLED', `${service}: cancelled`, { cause: signal?.reason }));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.inFlight.add(fail);
    return () => {
      this.clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.inFlight.delete(fail);
    };
  }

  private endEvent(correlation: string, success: boolean, message: string): EcpsEvent {
    return {
      id: uuidv4(this.random),
      source: this.options.source,
      type: EVENT_TYPES.streamEnd,
      time: eventTime(this.clock.now()),
      extensions: { correlationid: correlation },
      data: encodeAck({ success, message }),
    };
  }
}

const REMOTE_CODE = /^([A-Z_]+): /;

/** The requester's error for an error end. `details.remoteCode` is the server's error code when it sent one. */
function remoteError(service: string, event: EcpsEvent): TransportError {
  let message = 'remote error';
  try {
    message = decodeAck(event.data).message || message;
  } catch {
    // an undecodable end event is still an error end
  }
  const code = REMOTE_CODE.exec(message)?.[1];
  const remoteCode = code !== undefined && (ERROR_CODES as readonly string[]).includes(code) ? (code as EcpsErrorCode) : undefined;
  return new TransportError('REMOTE_ERROR', `${service}: ${message}`, {
    details: { service, source: event.source, ...(remoteCode ? { remoteCode } : {}) },
  });
}

function errorMessage(error: unknown): string {
  if (isEcpsError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
