// SPDX-License-Identifier: Apache-2.0
// The OpenTelemetry Node SDK wired for an ECPS app: traces and metrics exported over OTLP/HTTP, W3C propagation,
// AsyncLocalStorage context. Libraries never import this; apps call it once at start-up.
import { context, metrics, propagation, trace, type Attributes, type MeterProvider as ApiMeterProvider, type TracerProvider as ApiTracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Spec §8 `OBSERVABILITY_BATCH_INTERVAL_MS`: how often batched spans are exported. */
export const OBSERVABILITY_BATCH_INTERVAL_MS = 1000;

export interface NodeTelemetryOptions {
  /** `service.name` of the resource, e.g. the node id. */
  serviceName: string;
  serviceVersion?: string;
  /** More resource attributes (e.g. `{ 'ecps.node.id': 'arm-1' }`). */
  resourceAttributes?: Attributes;
  /**
   * OTLP/HTTP base URL; `/v1/traces` and `/v1/metrics` are appended. Default: the exporters' own resolution
   * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, ... else `http://localhost:4318`).
   */
  endpoint?: string;
  /** Extra HTTP headers (e.g. an API key). */
  headers?: Record<string, string>;
  /** Span batch interval. Default 1000 ms (spec §8). */
  batchIntervalMs?: number;
  /** Metric export interval. Default 60000 ms. */
  metricIntervalMs?: number;
  /** Export metrics too. Default true. */
  metrics?: boolean;
  /** Install as the global tracer/meter provider, W3C propagator and context manager. Default true. */
  registerGlobal?: boolean;
}

export interface NodeTelemetry {
  readonly tracerProvider: ApiTracerProvider;
  readonly meterProvider: ApiMeterProvider;
  /** Exports everything recorded so far. */
  forceFlush(): Promise<void>;
  /** Flushes, stops the exporters and removes the global registrations it made. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry for an app. Pass `tracerProvider`/`meterProvider` to `tracedTransport`, or rely on the
 * globals this registers. Export failures are reported by the SDK's diag logger, never thrown.
 */
export function startNodeTelemetry(options: NodeTelemetryOptions): NodeTelemetry {
  const resource = resourceFromAttributes({
    'service.name': options.serviceName,
    ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
    ...options.resourceAttributes,
  });
  const url = (path: string) => (options.endpoint ? { url: `${options.endpoint.replace(/\/+$/, '')}${path}` } : {});
  const headers = options.headers ? { headers: options.headers } : {};
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ ...url('/v1/traces'), ...headers }), {
        scheduledDelayMillis: options.batchIntervalMs ?? OBSERVABILITY_BATCH_INTERVAL_MS,
      }),
    ],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers:
      options.metrics === false
        ? []
        : [
            new PeriodicExportingMetricReader({
              exporter: new OTLPMetricExporter({ ...url('/v1/metrics'), ...headers }),
              exportIntervalMillis: options.metricIntervalMs ?? 60_000,
            }),
          ],
  });
  const registerGlobal = options.registerGlobal ?? true;
  let contextManager: AsyncLocalStorageContextManager | undefined;
  if (registerGlobal) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
  }
  let stopping: Promise<void> | undefined;
  return {
    tracerProvider,
    meterProvider,
    forceFlush: async () => {
      await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    shutdown: () =>
      (stopping ??= (async () => {
        await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
        if (registerGlobal) {
          trace.disable();
          metrics.disable();
          propagation.disable();
          context.disable();
          contextManager?.disable();
        }
      })()),
  };
}
