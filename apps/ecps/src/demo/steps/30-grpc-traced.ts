// SPDX-License-Identifier: Apache-2.0
// Two nodes talk over gRPC (a bus router on an ephemeral loopback port) with OpenTelemetry on: the prompt's span
// on the sender and the handler's span on the receiver share one trace, carried in the CloudEvents traceparent.
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { MCP } from '@ecps/proto';
import { createNode } from '@ecps/runtime';
import { grpcBusServer, grpcTransport } from '@ecps/transport-grpc';
import type { DemoStep } from '../step';

const step: DemoStep = {
  title: 'The same exchange over gRPC, traced end to end with OpenTelemetry',
  async run(ctx) {
    const router = await grpcBusServer({ host: '127.0.0.1', port: 0 });
    const spans = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    ctx.log(`grpc router listening on ${router.address}`);
    const planner = await createNode({ id: 'planner', transport: grpcTransport({ target: router.address, nodeId: 'planner' }), observability: { tracerProvider } });
    const robot = await createNode({ id: 'robot-leg', transport: grpcTransport({ target: router.address, nodeId: 'robot-leg' }), observability: { tracerProvider } });
    try {
      let received!: () => void;
      const arrived = new Promise<void>((resolve) => (received = resolve));
      await robot.subscribe('MCP', 'mcp', (prompt, event) => {
        ctx.log(`robot-leg  ← prompt ${JSON.stringify(prompt.prompt)} over gRPC, traceparent ${event.extensions?.['traceparent']}`);
        received();
      });
      const prompt: MCP = { spec: 'mcp/1.0', id: crypto.randomUUID(), prompt: 'Walk to the charging dock.', toolJson: new Uint8Array(), meta: {} };
      ctx.log(`planner    → prompt ${prompt.id}`);
      await planner.publish('MCP', 'mcp', prompt);
      await arrived;
      const finished = () => spans.getFinishedSpans().filter((s) => s.kind === SpanKind.PRODUCER || s.kind === SpanKind.CONSUMER);
      for (let i = 0; i < 100 && finished().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      for (const s of finished()) {
        ctx.log(`span ${s.name.padEnd(12)} trace ${s.spanContext().traceId} span ${s.spanContext().spanId} parent ${s.parentSpanContext?.spanId ?? '-'}`);
      }
      const [sent, handled] = [finished().find((s) => s.kind === SpanKind.PRODUCER), finished().find((s) => s.kind === SpanKind.CONSUMER)];
      if (sent && handled && handled.parentSpanContext?.spanId === sent.spanContext().spanId) {
        ctx.held('otel', "one trace: the receiver's span is a child of the sender's");
      } else {
        throw new Error('the receiver span is not linked to the sender span');
      }
    } finally {
      await planner.close();
      await robot.close();
      await router.close();
    }
  },
};

export default step;
