import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { LTP } from '@ecps/proto';
import { addEcpsService, createMemoryStoreClient, startGrpcServer } from '@ecps/transport-grpc';
import { MemoryStoreDefinition } from '@ecps/proto';
import { traceMetadata } from '../src/index';

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => {
  contextManager.disable();
  context.disable();
});

it('carries the active span to a gRPC MemoryStore server as traceparent metadata', async () => {
  const seen: Array<string | undefined> = [];
  const server = await startGrpcServer({
    register: (s) =>
      addEcpsService(s, MemoryStoreDefinition, {
        put: (_req, ctx) => {
          seen.push(ctx.traceparent);
          return { success: true, message: 'ok' };
        },
        query: async function* () {},
      }),
  });
  const client = createMemoryStoreClient(server.address, { callMetadata: () => traceMetadata() });
  try {
    const tracer = new BasicTracerProvider().getTracer('test');
    const spanContext = await tracer.startActiveSpan('store', async (span) => {
      await client.put(LTP.fromPartial({ spec: 'ltp/0.9', dtype: 'f32' }));
      span.end();
      return span.spanContext();
    });
    await client.put(LTP.fromPartial({ spec: 'ltp/0.9', dtype: 'f32' })); // outside any span: no metadata
    expect(seen).toEqual([`00-${spanContext.traceId}-${spanContext.spanId}-01`, undefined]);
    expect(trace.getActiveSpan()).toBeUndefined();
  } finally {
    client.close();
    await server.close();
  }
});
