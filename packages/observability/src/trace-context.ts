// SPDX-License-Identifier: Apache-2.0
// W3C trace context <-> OpenTelemetry context, through the CloudEvents `traceparent`/`tracestate` extensions
// (spec §9). Done here rather than through the global propagator, so it works whatever the app registered.
import { ROOT_CONTEXT, context, createTraceState, trace, type Context, type SpanContext } from '@opentelemetry/api';
import type { EcpsEvent } from '@ecps/core';
import { formatTraceparent, parseTraceparent, traceContextOf } from '@ecps/serialization';

/** `traceparent` (and `tracestate` when not empty) for a span context; empty for an invalid one. */
export function traceHeaders(spanContext: SpanContext | undefined): Record<string, string> {
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  const headers: Record<string, string> = {
    traceparent: formatTraceparent({ traceId: spanContext.traceId, spanId: spanContext.spanId, flags: spanContext.traceFlags }),
  };
  const state = spanContext.traceState?.serialize();
  if (state) headers['tracestate'] = state;
  return headers;
}

/**
 * Request metadata carrying the active span's trace context: pass it as `callMetadata` to the gRPC clients of
 * `@ecps/transport-grpc` (`callMetadata: () => traceMetadata()`) so that server spans join the caller's trace.
 */
export function traceMetadata(ctx: Context = context.active()): Record<string, string> {
  return traceHeaders(trace.getSpanContext(ctx));
}

/** A copy of `event` whose `traceparent`/`tracestate` extensions name `spanContext` (others kept). */
export function withTraceContext(event: EcpsEvent, spanContext: SpanContext): EcpsEvent {
  const headers = traceHeaders(spanContext);
  if (!headers['traceparent']) return event;
  const extensions: Record<string, string> = { ...event.extensions, ...headers };
  if (!headers['tracestate']) delete extensions['tracestate'];
  return { ...event, extensions };
}

/**
 * The remote parent an event names: its `traceparent` (+ `tracestate`), else (spec §9) a trace id derived from
 * the message id with a fresh span id.
 */
export function contextFromEvent(event: EcpsEvent, base: Context = ROOT_CONTEXT): Context {
  const tp = traceContextOf(event);
  const state = parseTraceparent(event.extensions?.['traceparent']) ? event.extensions?.['tracestate'] : undefined;
  return trace.setSpanContext(base, {
    traceId: tp.traceId,
    spanId: tp.spanId,
    traceFlags: tp.flags,
    isRemote: true,
    ...(state ? { traceState: createTraceState(state) } : {}),
  });
}

/** The parent of an outgoing message: the active span, else the trace the event already names, else none. */
export function parentForOutgoing(active: Context, event: EcpsEvent): Context {
  if (trace.getSpanContext(active)) return active;
  return parseTraceparent(event.extensions?.['traceparent']) ? contextFromEvent(event, active) : active;
}
