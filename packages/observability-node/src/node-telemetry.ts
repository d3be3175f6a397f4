// SPDX-License-Identifier: Apache-2.0
// The OpenTelemetry Node SDK wired for an ECPS app: NodeTracerProvider (AsyncLocalStorage context), traces and
// metrics exported over OTLP/HTTP, W3C propagation, and the standard OTEL_* variables honoured. Libraries never
// import this; apps call it once at start-up.
import { context, metrics, propagation, trace, type Attributes, type MeterProvider as ApiMeterProvider, type TracerProvider as ApiTracerProvider } from '@opentelemetry/api';
import { W3CTraceContextPropagator, getBooleanFromEnv, getStringFromEnv } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** Spec §8 `OBSERVABILITY_BATCH_INTERVAL_MS`: how often batched spans are exported. */
export const OBSERVABILITY_BATCH_INTERVAL_MS = 1000;

export interface NodeTelemetryOptions {
  /**
   * `service.name` of the resource, e.g. the node id. Given here it wins; otherwise `OTEL_SERVICE_NAME`, then
   * `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, then the SDK default (`unknown_service:node`).
   */
  serviceName?: string;
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
  /** Span batch interval. Default `OTEL_BSP_SCHEDULE_DELAY`, else 1000 ms (spec §8). */
  batchIntervalMs?: number;
  /** Metric export interval. Default 60000 ms. */
  metricIntervalMs?: number;
  /** Export metrics too. Default true unless `OTEL_METRICS_EXPORTER=none`. */
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

/** Whether `OTEL_<SIGNAL>_EXPORTER` lists `none` (the variable is a comma-separated list; only `otlp` is built here). */
function exporterOff(variable: string): boolean {
  return (getStringFromEnv(variable) ?? 'otlp').split(',').map((v) => v.trim()).includes('none');
}

const disabled: NodeTelemetry = {
  tracerProvider: trace.getTracerProvider(),
  meterProvider: metrics.getMeterProvider(),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/**
 * Starts OpenTelemetry for an app. Pass `tracerProvider`/`meterProvider` to `tracedTransport`, or rely on the
 * globals this registers. The standard variables apply where an option does not say otherwise:
 * `OTEL_SDK_DISABLED=true` (nothing is started; the API's no-op providers are returned), `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES` (resource), `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_HEADERS`, ... (read by the OTLP exporters), `OTEL_TRACES_SAMPLER`/`_ARG` (read by the
 * tracer provider), `OTEL_BSP_*` (batching), `OTEL_TRACES_EXPORTER=none` / `OTEL_METRICS_EXPORTER=none`.
 * Export failures are reported by the SDK's diag logger, never thrown.
 */
export function startNodeTelemetry(options: NodeTelemetryOptions = {}): NodeTelemetry {
  if (getBooleanFromEnv('OTEL_SDK_DISABLED')) return disabled;
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(
      resourceFromAttributes({
        ...(options.serviceName ? { 'service.name': options.serviceName } : {}),
        ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
        ...options.resourceAttributes,
      }),
    );
  const url = (path: string) => (options.endpoint ? { url: `${options.endpoint.replace(/\/+$/, '')}${path}` } : {});
  const headers = options.headers ? { headers: options.headers } : {};
  const batchDelay = options.batchIntervalMs ?? (getStringFromEnv('OTEL_BSP_SCHEDULE_DELAY') ? undefined : OBSERVABILITY_BATCH_INTERVAL_MS);
  const tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors: exporterOff('OTEL_TRACES_EXPORTER')
      ? []
      : [new BatchSpanProcessor(new OTLPTraceExporter({ ...url('/v1/traces'), ...headers }), batchDelay === undefined ? {} : { scheduledDelayMillis: batchDelay })],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers:
      options.metrics === false || (options.metrics === undefined && exporterOff('OTEL_METRICS_EXPORTER'))
        ? []
        : [
            new PeriodicExportingMetricReader({
              exporter: new OTLPMetricExporter({ ...url('/v1/metrics'), ...headers }),
              exportIntervalMillis: options.metricIntervalMs ?? 60_000,
            }),
          ],
  });
  const registerGlobal = options.registerGlobal ?? true;
  if (registerGlobal) {
    // the AsyncLocalStorage context manager and the W3C trace-context propagator (spec: traceparent on events)
    tracerProvider.register({ propagator: new W3CTraceContextPropagator() });
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
        }
      })()),
  };
}
