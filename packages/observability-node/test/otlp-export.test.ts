import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { trace } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uuidv4 } from '@ecps/core';
import { tracedTransport } from '@ecps/observability';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { startNodeTelemetry } from '../src/index';

interface Received {
  path: string;
  contentType: string | undefined;
  body: string;
}

let receiver: Server;
let endpoint: string;
const received: Received[] = [];

beforeAll(async () => {
  // a loopback OTLP/HTTP receiver: records each export request and answers like a collector
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

it('exports the spans and metrics of a traced transport to an OTLP/HTTP receiver', async () => {
  const telemetry = startNodeTelemetry({ serviceName: 'arm-1', endpoint, registerGlobal: false, resourceAttributes: { 'ecps.node.id': 'arm-1' } });
  const t = tracedTransport(memoryTransport({ nodeId: 'arm-1', bus: new MemoryBus() }), telemetry);
  try {
    let traceparent: string | undefined;
    await t.subscribe('otlp/check', (e) => void (traceparent = e.extensions?.['traceparent']));
    await t.publish('otlp/check', { id: uuidv4(), source: 'urn:ecps:arm-1', type: 'ecps.ext.test', data: new Uint8Array(42) });
    while (!traceparent) await new Promise((r) => setTimeout(r, 5));
    await telemetry.forceFlush();

    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces.length).toBeGreaterThanOrEqual(1);
    expect(traces[0]!.contentType).toBe('application/json');
    const spans = traces
      .map((r) => JSON.parse(r.body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; spanId: string; attributes: Array<{ key: string }> }> }> }> })
      .flatMap((b) => b.resourceSpans);
    expect(spans[0]!.resource.attributes).toEqual(expect.arrayContaining([{ key: 'service.name', value: { stringValue: 'arm-1' } }]));
    const all = spans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans));
    const publish = all.find((s) => s.name === 'publish otlp/check');
    const processed = all.find((s) => s.name === 'process otlp/check');
    expect(publish).toBeDefined();
    expect(processed).toBeDefined();
    // the span the receiver got is the one named on the wire by the event's traceparent
    expect(traceparent).toBe(`00-${publish!.traceId}-${publish!.spanId}-01`);
    expect(processed!.traceId).toBe(publish!.traceId);
    expect(publish!.attributes.map((a) => a.key)).toEqual(expect.arrayContaining(['messaging.destination.name', 'messaging.message.body.size']));

    const metricBodies = received.filter((r) => r.path === '/v1/metrics').map((r) => r.body);
    expect(metricBodies.join('\n')).toContain('ecps.messaging.sent.bytes');
  } finally {
    await t.close();
    await telemetry.shutdown();
    await telemetry.shutdown();
  }
});

describe('configured by the standard OTEL_* variables', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (key.startsWith('OTEL_') && saved[key] === undefined) delete process.env[key];
  });
  type Body = { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ name: string }> }> }> };
  const spansOf = (from: number) =>
    received
      .slice(from)
      .filter((r) => r.path === '/v1/traces')
      .flatMap((r) => (JSON.parse(r.body) as Body).resourceSpans);

  it('exports to OTEL_EXPORTER_OTLP_ENDPOINT as OTEL_SERVICE_NAME with OTEL_RESOURCE_ATTRIBUTES, through the global NodeTracerProvider', async () => {
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: 'arm-from-env',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test-bench',
      OTEL_METRICS_EXPORTER: 'none',
    });
    const from = received.length;
    const telemetry = startNodeTelemetry();
    try {
      expect(telemetry.tracerProvider).toBeInstanceOf(NodeTracerProvider);
      trace.getTracer('test').startActiveSpan('configured by env', (span) => span.end());
      await telemetry.forceFlush();
      const spans = spansOf(from);
      expect(spans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)))).toEqual(['configured by env']);
      expect(spans[0]!.resource.attributes).toEqual(
        expect.arrayContaining([
          { key: 'service.name', value: { stringValue: 'arm-from-env' } },
          { key: 'deployment.environment', value: { stringValue: 'test-bench' } },
        ]),
      );
      expect(received.slice(from).filter((r) => r.path === '/v1/metrics')).toEqual([]); // OTEL_METRICS_EXPORTER=none
    } finally {
      await telemetry.shutdown();
    }
  });

  it('samples as OTEL_TRACES_SAMPLER says, and starts nothing under OTEL_SDK_DISABLED', async () => {
    Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'always_off', OTEL_METRICS_EXPORTER: 'none' });
    const from = received.length;
    const telemetry = startNodeTelemetry({ serviceName: 'sampled-out' });
    try {
      trace.getTracer('test').startActiveSpan('dropped', (span) => span.end());
      await telemetry.forceFlush();
      expect(spansOf(from)).toEqual([]);
    } finally {
      await telemetry.shutdown();
    }
    process.env['OTEL_SDK_DISABLED'] = 'true';
    const off = startNodeTelemetry({ serviceName: 'off' });
    expect(off.tracerProvider).not.toBeInstanceOf(NodeTracerProvider);
    await off.shutdown();
  });
});
