// SPDX-License-Identifier: Apache-2.0
// OpenTelemetry around any Transport: PRODUCER/CONSUMER spans for publish and process, CLIENT/SERVER spans for
// request/serve and server streams, W3C trace context in every outgoing event, bytes and latency metrics.
// Every layer (LTP, MCP, MEP, EAP, ...) reaches the network through a Transport, so wrapping it traces them all.
import {
  SpanKind,
  SpanStatusCode,
  context,
  metrics,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  isEcpsError,
  type EcpsEvent,
  type EventHandler,
  type PublishOptions,
  type RequestHandler,
  type RequestOptions,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';
import { contextFromEvent, parentForOutgoing, withTraceContext } from './trace-context';
import { createTransportMetrics, type TransportMetrics } from './transport-metrics';

export interface TracedTransportOptions {
  /** Default: the global tracer provider (a no-op until an SDK registers one). */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider (a no-op until an SDK registers one). */
  meterProvider?: MeterProvider;
}

/** Instrumentation scope of every span and metric this package emits. */
export const INSTRUMENTATION_NAME = '@ecps/observability';

const now = () => performance.now();

/** `MemoryStore.Put` -> [MemoryStore, Put]; `ecps.ext.v1.Raft.Vote` -> [ecps.ext.v1.Raft, Vote]. */
function splitService(service: string): Attributes {
  const dot = service.lastIndexOf('.');
  return { 'rpc.system': 'ecps', 'rpc.service': dot > 0 ? service.slice(0, dot) : service, 'rpc.method': dot > 0 ? service.slice(dot + 1) : '' };
}

function eventAttributes(event: EcpsEvent): Attributes {
  const attributes: Attributes = {
    'messaging.message.id': event.id,
    'messaging.message.body.size': event.data.length,
    'cloudevents.event_id': event.id,
    'cloudevents.event_source': event.source,
    'cloudevents.event_type': event.type,
    'cloudevents.event_spec_version': '1.0',
  };
  const correlation = event.extensions?.['correlationid'];
  if (correlation) attributes['messaging.message.conversation_id'] = correlation;
  return attributes;
}

function fail(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.setAttribute('error.type', isEcpsError(error) ? error.code : error instanceof Error ? error.name : 'unknown');
}

function outcome(error: unknown): string {
  return error === undefined ? 'ok' : isEcpsError(error) ? error.code : 'error';
}

class TracedTransport implements Transport {
  private readonly tracer: Tracer;
  private readonly m: TransportMetrics;
  private readonly base: Attributes;

  constructor(
    private readonly inner: Transport,
    options: TracedTransportOptions,
  ) {
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
    this.m = createTransportMetrics((options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME));
    this.base = { 'messaging.system': 'ecps', 'ecps.transport': inner.kind };
  }

  get kind(): string {
    return this.inner.kind;
  }

  get maxPayloadSize(): number {
    return this.inner.maxPayloadSize;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async publish(topic: string, event: EcpsEvent, options?: PublishOptions): Promise<void> {
    const parent = parentForOutgoing(context.active(), event);
    const span = this.tracer.startSpan(
      `publish ${topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          ...this.base,
          ...eventAttributes(event),
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'publish',
          'messaging.destination.name': topic,
          ...(options?.qos !== undefined ? { 'ecps.qos': options.qos } : {}),
        },
      },
      parent,
    );
    const started = now();
    let error: unknown;
    try {
      await this.inner.publish(topic, withTraceContext(event, span.spanContext()), options);
      this.m.sentBytes.add(event.data.length, { ...this.base, 'cloudevents.event_type': event.type });
    } catch (e) {
      fail(span, (error = e));
      throw e;
    } finally {
      span.end();
      this.m.publishDuration.record(now() - started, { ...this.base, 'cloudevents.event_type': event.type, outcome: outcome(error) });
    }
  }

  subscribe(filter: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    return this.inner.subscribe(
      filter,
      async (event, topic) => {
        const parent = contextFromEvent(event);
        const span = this.tracer.startSpan(
          `process ${topic}`,
          {
            kind: SpanKind.CONSUMER,
            attributes: {
              ...this.base,
              ...eventAttributes(event),
              'messaging.operation.type': 'process',
              'messaging.operation.name': 'process',
              'messaging.destination.name': topic,
              'messaging.destination.subscription.name': filter,
            },
          },
          parent,
        );
        this.m.receivedBytes.add(event.data.length, { ...this.base, 'cloudevents.event_type': event.type });
        const started = now();
        let error: unknown;
        try {
          await context.with(trace.setSpan(parent, span), () => handler(event, topic));
        } catch (e) {
          fail(span, (error = e));
          throw e;
        } finally {
          span.end();
          this.m.processDuration.record(now() - started, { ...this.base, 'cloudevents.event_type': event.type, outcome: outcome(error) });
        }
      },
      options,
    );
  }

  async request(service: string, request: EcpsEvent, options?: RequestOptions): Promise<EcpsEvent> {
    const { span, ctx, attributes } = this.clientSpan(service, request);
    const started = now();
    let error: unknown;
    try {
      const reply = await context.with(ctx, () => this.inner.request(service, withTraceContext(request, span.spanContext()), options));
      this.m.receivedBytes.add(reply.data.length, { ...this.base, 'cloudevents.event_type': reply.type });
      span.setAttribute('ecps.reply.body.size', reply.data.length);
      return reply;
    } catch (e) {
      fail(span, (error = e));
      throw e;
    } finally {
      span.end();
      this.m.clientDuration.record(now() - started, { ...attributes, outcome: outcome(error) });
    }
  }

  serve(service: string, handler: RequestHandler): Promise<Subscription> {
    return this.inner.serve(service, async (request) => {
      const { span, ctx, attributes } = this.serverSpan(service, request);
      const started = now();
      let error: unknown;
      try {
        const reply = await context.with(ctx, () => handler(request));
        this.m.sentBytes.add(reply.data.length, { ...this.base, 'cloudevents.event_type': reply.type });
        return withTraceContext(reply, span.spanContext());
      } catch (e) {
        fail(span, (error = e));
        throw e;
      } finally {
        span.end();
        this.m.serverDuration.record(now() - started, { ...attributes, outcome: outcome(error) });
      }
    });
  }

  async *requestStream(service: string, request: EcpsEvent, options?: RequestOptions): AsyncGenerator<EcpsEvent> {
    const { span, ctx, attributes } = this.clientSpan(service, request, true);
    const started = now();
    let error: unknown;
    let count = 0;
    try {
      const iterator = context.with(ctx, () => this.inner.requestStream(service, withTraceContext(request, span.spanContext()), options))[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next = await context.with(ctx, () => iterator.next());
          if (next.done) break;
          count++;
          this.m.receivedBytes.add(next.value.data.length, { ...this.base, 'cloudevents.event_type': next.value.type });
          yield next.value;
        }
      } finally {
        // an early exit by the consumer still cancels the inner stream
        await iterator.return?.();
      }
    } catch (e) {
      fail(span, (error = e));
      throw e;
    } finally {
      span.setAttribute('ecps.stream.events', count);
      span.end();
      this.m.clientDuration.record(now() - started, { ...attributes, outcome: outcome(error) });
    }
  }

  serveStream(service: string, handler: StreamHandler): Promise<Subscription> {
    return this.inner.serveStream(service, (request, signal) => this.tracedServerStream(service, handler, request, signal));
  }

  private async *tracedServerStream(service: string, handler: StreamHandler, request: EcpsEvent, signal: AbortSignal): AsyncGenerator<EcpsEvent> {
    const { span, ctx, attributes } = this.serverSpan(service, request, true);
    const started = now();
    let error: unknown;
    let count = 0;
    try {
      const iterator = context.with(ctx, () => handler(request, signal))[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next = await context.with(ctx, () => iterator.next());
          if (next.done) break;
          count++;
          this.m.sentBytes.add(next.value.data.length, { ...this.base, 'cloudevents.event_type': next.value.type });
          yield withTraceContext(next.value, span.spanContext());
        }
      } finally {
        await iterator.return?.();
      }
    } catch (e) {
      fail(span, (error = e));
      throw e;
    } finally {
      span.setAttribute('ecps.stream.events', count);
      span.end();
      this.m.serverDuration.record(now() - started, { ...attributes, outcome: outcome(error) });
    }
  }

  private clientSpan(service: string, request: EcpsEvent, streaming = false): { span: Span; ctx: Context; attributes: Attributes } {
    const attributes = { ...this.base, ...splitService(service), 'ecps.rpc.streaming': streaming };
    const parent = parentForOutgoing(context.active(), request);
    const span = this.tracer.startSpan(service, { kind: SpanKind.CLIENT, attributes: { ...attributes, ...eventAttributes(request) } }, parent);
    this.m.sentBytes.add(request.data.length, { ...this.base, 'cloudevents.event_type': request.type });
    return { span, ctx: trace.setSpan(parent, span), attributes };
  }

  private serverSpan(service: string, request: EcpsEvent, streaming = false): { span: Span; ctx: Context; attributes: Attributes } {
    const attributes = { ...this.base, ...splitService(service), 'ecps.rpc.streaming': streaming };
    const parent = contextFromEvent(request);
    const span = this.tracer.startSpan(service, { kind: SpanKind.SERVER, attributes: { ...attributes, ...eventAttributes(request) } }, parent);
    this.m.receivedBytes.add(request.data.length, { ...this.base, 'cloudevents.event_type': request.type });
    return { span, ctx: trace.setSpan(parent, span), attributes };
  }
}

/**
 * Wraps a transport with OpenTelemetry. Outgoing events get `traceparent`/`tracestate` extensions naming their
 * span (so the trace continues on the receiving node, over any wire); incoming ones start spans whose parent is the
 * trace context they carry (or, without one, the trace id derived from the message id, spec §9). Handlers run with
 * their span active, so what they publish or request joins the trace. Errors pass through unchanged.
 */
export function tracedTransport(transport: Transport, options: TracedTransportOptions = {}): Transport {
  return new TracedTransport(transport, options);
}
