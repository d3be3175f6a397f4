import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader, type DataPoint, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { uuidv4, type EcpsEvent, type Transport } from '@ecps/core';
import { startAedes, startMosquitto, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { grpcBusServer, grpcTransport } from '@ecps/transport-grpc';
import { mqttTransport } from '@ecps/transport-mqtt';
import { METRIC_NAMES, tracedTransport } from '../src/index';

/** Two connected nodes of one transport kind. Add a factory here to run every tracing test over it (MQTT, DDS, ...). */
type PairFactory = () => Promise<{ a: Transport; b: Transport; teardown(): Promise<void> }>;

const factories: Array<[string, PairFactory]> = [
  [
    'memory',
    async () => {
      const bus = new MemoryBus();
      return { a: memoryTransport({ nodeId: 'a', bus }), b: memoryTransport({ nodeId: 'b', bus }), teardown: async () => undefined };
    },
  ],
  [
    'grpc',
    async () => {
      const server = await grpcBusServer();
      return {
        a: grpcTransport({ target: server.address, nodeId: 'a' }),
        b: grpcTransport({ target: server.address, nodeId: 'b' }),
        teardown: () => server.close(),
      };
    },
  ],
  [
    // traceparent travels as an MQTT 5 user property (CloudEvents binary mode)
    'mqtt 5 (Mosquitto)',
    async () => {
      const broker = await startMosquitto();
      return {
        a: mqttTransport({ url: broker.url, nodeId: 'a' }),
        b: mqttTransport({ url: broker.url, nodeId: 'b' }),
        teardown: () => broker.stop(),
      };
    },
  ],
  [
    // ... and as a top-level member of the structured-mode JSON on MQTT 3.1.1
    'mqtt 3.1.1 (aedes)',
    async () => {
      const broker = await startAedes();
      return {
        a: mqttTransport({ url: broker.url, nodeId: 'a', protocolVersion: 4 }),
        b: mqttTransport({ url: broker.url, nodeId: 'b', protocolVersion: 4 }),
        teardown: () => broker.stop(),
      };
    },
  ],
];

class TestMetricReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => {
  contextManager.disable();
  context.disable();
});

const event = (source: string, data: number[], extensions?: Record<string, string>): EcpsEvent => ({
  id: uuidv4(),
  source,
  type: 'ecps.ext.test',
  time: new Date().toISOString(),
  data: Uint8Array.from(data),
  ...(extensions ? { extensions } : {}),
});

const byName = (spans: ReadableSpan[], name: string, kind?: SpanKind) => {
  const found = spans.find((s) => s.name === name && (kind === undefined || s.kind === kind));
  if (!found) throw new Error(`no span ${name} among ${spans.map((s) => s.name).join(', ')}`);
  return found;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe.each(factories)('one trace across two nodes over %s', (_name, makePair) => {
  let exporterA: InMemorySpanExporter;
  let exporterB: InMemorySpanExporter;
  let reader: TestMetricReader;
  let providerA: BasicTracerProvider;
  let a: Transport;
  let b: Transport;
  let teardown: () => Promise<void>;

  beforeEach(async () => {
    // two nodes = two tracer providers with their own exporters, as in two processes
    exporterA = new InMemorySpanExporter();
    exporterB = new InMemorySpanExporter();
    providerA = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporterA)] });
    const providerB = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporterB)] });
    reader = new TestMetricReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const pair = await makePair();
    a = tracedTransport(pair.a, { tracerProvider: providerA, meterProvider });
    b = tracedTransport(pair.b, { tracerProvider: providerB });
    teardown = async () => {
      await a.close();
      await b.close();
      await pair.teardown();
    };
    await a.connect();
    await b.connect();
  });
  afterEach(() => teardown());

  it('links request -> serve -> publish back -> process in one trace with parent/child spans', async () => {
    const notified: EcpsEvent[] = [];
    await a.subscribe('trace/notify', (e) => void notified.push(e));
    await b.serve('Trace.Echo', async (req) => {
      await b.publish('trace/notify', event('urn:ecps:b', [9, 9, 9]));
      return { ...event('urn:ecps:b', [...req.data].reverse()), type: 'ecps.ext.test.reply' };
    });
    await new Promise((r) => setTimeout(r, 50));

    const tracer = providerA.getTracer('test');
    const reply = await tracer.startActiveSpan('mission', async (root) => {
      try {
        return await a.request('Trace.Echo', event('urn:ecps:a', [1, 2, 3]), { timeoutMs: 5000 });
      } finally {
        root.end();
      }
    });
    expect([...reply.data]).toEqual([3, 2, 1]);
    await waitFor(() => exporterA.getFinishedSpans().some((s) => s.kind === SpanKind.CONSUMER), 'the process span on node a');

    const spansA = exporterA.getFinishedSpans();
    const spansB = exporterB.getFinishedSpans();
    const root = byName(spansA, 'mission');
    const client = byName(spansA, 'Trace.Echo', SpanKind.CLIENT);
    const server = byName(spansB, 'Trace.Echo', SpanKind.SERVER);
    const publish = byName(spansB, 'publish trace/notify', SpanKind.PRODUCER);
    const processed = byName(spansA, 'process trace/notify', SpanKind.CONSUMER);

    const traceId = root.spanContext().traceId;
    for (const s of [client, server, publish, processed]) expect(s.spanContext().traceId).toBe(traceId);
    expect(parentOf(client)).toBe(root.spanContext().spanId);
    expect(parentOf(server)).toBe(client.spanContext().spanId);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(parentOf(publish)).toBe(server.spanContext().spanId);
    expect(parentOf(processed)).toBe(publish.spanContext().spanId);
    // the reply and the notification carry the trace on the wire, as CloudEvents extensions
    expect(reply.extensions?.['traceparent']).toBe(`00-${traceId}-${server.spanContext().spanId}-01`);
    expect(notified[0]!.extensions?.['traceparent']).toBe(`00-${traceId}-${publish.spanContext().spanId}-01`);

    expect(client.attributes).toMatchObject({ 'rpc.system': 'ecps', 'rpc.service': 'Trace', 'rpc.method': 'Echo', 'ecps.reply.body.size': 3 });
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'ecps',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'trace/notify',
      'messaging.message.body.size': 3,
      'cloudevents.event_type': 'ecps.ext.test',
    });
    expect(processed.attributes).toMatchObject({ 'messaging.operation.type': 'process', 'messaging.destination.subscription.name': 'trace/notify' });
  });

  it('traces a server stream and marks failures', async () => {
    await b.serveStream('Trace.Count', async function* (req) {
      for (let i = 0; i < req.data[0]!; i++) yield event('urn:ecps:b', [i]);
    });
    await b.serve('Trace.Fail', () => {
      throw new Error('sensor offline');
    });
    await new Promise((r) => setTimeout(r, 50));
    const got: EcpsEvent[] = [];
    for await (const e of a.requestStream('Trace.Count', event('urn:ecps:a', [4]), { timeoutMs: 5000 })) got.push(e);
    expect(got.map((e) => e.data[0])).toEqual([0, 1, 2, 3]);
    await expect(a.request('Trace.Fail', event('urn:ecps:a', [0]), { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'REMOTE_ERROR' });
    await waitFor(() => exporterB.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER).length === 2, 'both server spans');

    const client = byName(exporterA.getFinishedSpans(), 'Trace.Count', SpanKind.CLIENT);
    const server = byName(exporterB.getFinishedSpans(), 'Trace.Count', SpanKind.SERVER);
    expect(parentOf(server)).toBe(client.spanContext().spanId);
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    expect(client.attributes['ecps.stream.events']).toBe(4);
    for (const e of got) expect(e.extensions?.['traceparent']).toContain(server.spanContext().spanId);

    const failedClient = byName(exporterA.getFinishedSpans(), 'Trace.Fail', SpanKind.CLIENT);
    const failedServer = byName(exporterB.getFinishedSpans(), 'Trace.Fail', SpanKind.SERVER);
    expect(failedClient.status.code).toBe(2);
    expect(failedClient.attributes['error.type']).toBe('REMOTE_ERROR');
    expect(failedServer.status.message).toBe('sensor offline');
  });

  it('derives the trace id from the message id when an event carries no traceparent (spec §9)', async () => {
    const seen: EcpsEvent[] = [];
    await b.subscribe('trace/bare', (e) => void seen.push(e));
    await new Promise((r) => setTimeout(r, 50));
    // publish through the untraced inner path: no traceparent at all on the wire
    const bare = event('urn:ecps:a', [1]);
    await (a as unknown as { inner: Transport }).inner.publish('trace/bare', bare);
    await waitFor(() => exporterB.getFinishedSpans().length === 1, 'the process span');
    const processed = exporterB.getFinishedSpans()[0]!;
    expect(processed.spanContext().traceId).toBe(bare.id.replace(/-/g, ''));
    expect(seen[0]!.extensions?.['traceparent']).toBeUndefined();
  });

  it('counts bytes and records latencies', async () => {
    await b.serve('Trace.Size', (req) => event('urn:ecps:b', [...req.data, ...req.data]));
    await b.subscribe('trace/bytes', () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await a.publish('trace/bytes', event('urn:ecps:a', [1, 2, 3, 4, 5]));
    await a.request('Trace.Size', event('urn:ecps:a', [1, 2, 3]), { timeoutMs: 5000 });
    const { resourceMetrics } = await reader.collect();
    const points = (rm: ResourceMetrics, name: string) =>
      rm.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as Array<DataPoint<unknown>>);
    const sum = (name: string) => points(resourceMetrics, name).reduce((n, p) => n + (p.value as number), 0);
    expect(sum(METRIC_NAMES.sentBytes)).toBe(5 + 3);
    expect(sum(METRIC_NAMES.receivedBytes)).toBe(6);
    const client = points(resourceMetrics, METRIC_NAMES.clientDuration);
    expect(client).toHaveLength(1);
    expect(client[0]!.attributes).toMatchObject({ 'rpc.service': 'Trace', 'rpc.method': 'Size', outcome: 'ok' });
    expect((client[0]!.value as { count: number }).count).toBe(1);
    expect(points(resourceMetrics, METRIC_NAMES.publishDuration)).toHaveLength(1);
  });
});

it('is a no-op without providers: spans and metrics go to the global no-op API', async () => {
  const bus = new MemoryBus();
  const t = tracedTransport(memoryTransport({ nodeId: 'quiet', bus }));
  const seen: EcpsEvent[] = [];
  await t.subscribe('x', (e) => void seen.push(e));
  await t.publish('x', event('urn:ecps:quiet', [1]));
  await waitFor(() => seen.length === 1, 'delivery');
  expect(trace.getSpan(context.active())).toBeUndefined();
  await t.close();
});
