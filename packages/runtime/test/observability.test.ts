import { expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { waitFor } from '@ecps/testkit';
import type { EcpsEvent } from '@ecps/core';
import type { MCP } from '@ecps/proto';
import { createNode } from '../src/index';

it('traces a node\'s traffic when observability is on, and leaves it alone when off', async () => {
  const bus = new MemoryBus();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const controller = await createNode({ id: 'controller', transport: memoryTransport({ nodeId: 'controller', bus }), observability: { tracerProvider } });
  const robot = await createNode({ id: 'robot', transport: memoryTransport({ nodeId: 'robot', bus }) });
  const got: EcpsEvent[] = [];
  await robot.subscribe('MCP', 'mcp', (_m, event) => void got.push(event));
  const prompt: MCP = { spec: 'mcp/1.0', id: 'p-1', prompt: 'wave', toolJson: new Uint8Array(), meta: {} };
  await controller.publish('MCP', 'mcp', prompt);
  await waitFor(() => got.length === 1, 'the prompt');
  const [span] = exporter.getFinishedSpans();
  expect(span).toMatchObject({ name: 'publish mcp', kind: SpanKind.PRODUCER });
  expect(span!.attributes['cloudevents.event_type']).toBe('ecps.mcp.prompt');
  expect(got[0]!.extensions?.['traceparent']).toBe(`00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`);
  // the untraced robot added no spans and no consumer span exists
  expect(exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER)).toHaveLength(0);
  await controller.close();
  await robot.close();
});
