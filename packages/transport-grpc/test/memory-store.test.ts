import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { TransportError, ValidationError, assertDtype, assertMinSim, isEcpsError } from '@ecps/core';
import { LTP, MemoryStoreClient as RawMemoryStoreClient, MemoryStoreDefinition, MemoryStoreService, type Ack, type QueryReq } from '@ecps/proto';
import { sleep, waitFor } from '@ecps/testkit';
import {
  addEcpsService,
  addMemoryStoreService,
  createMemoryStoreClient,
  maxMessageSizeFor,
  startGrpcServer,
  type MemoryStoreHandler,
  type StartedGrpcServer,
} from '../src/index';

const tensor = (frameId: string, bytes = 16): LTP =>
  LTP.fromPartial({ spec: 'ltp/0.9', tensorZstd: new Uint8Array(bytes).fill(7), shape: [bytes / 4], dtype: 'f32', frameId, timestampNs: 1_700_000_000_000_000_000n });

/** A small in-test store: enough behaviour to exercise the transport (the MEP package owns the real one). */
class TestStore implements MemoryStoreHandler {
  readonly stored: LTP[] = [];
  traceparents: Array<string | undefined> = [];
  queryAborted = false;

  async put(request: LTP): Promise<Ack> {
    if (request.spec !== 'ltp/0.9') throw new ValidationError('UNSUPPORTED_VERSION', `unsupported spec ${request.spec}`);
    assertDtype(request.dtype);
    if (request.frameId === 'too-big') throw new ValidationError('FRAME_TOO_LARGE', 'frame above the limit');
    if (request.frameId === 'slow') await sleep(2000);
    if (request.frameId === 'crash') throw new Error('disk on fire');
    this.stored.push(request);
    return { success: true, message: 'Embedding stored successfully' };
  }

  async *query(request: QueryReq, signal: AbortSignal): AsyncIterable<LTP> {
    assertMinSim(request.minSim);
    const k = request.k === 0 ? 10 : request.k;
    if (k === 999) {
      // an endless stream that only stops when the client goes away
      for (let i = 0; !signal.aborted; i++) {
        yield tensor(`endless-${i}`);
        await sleep(5);
      }
      this.queryAborted = true;
      return;
    }
    for (const hit of this.stored.slice(0, k)) yield { ...hit, attributes: { similarity: '1' } };
    if (request.minSim > 1) throw new TransportError('NOT_FOUND', 'nothing that similar');
  }
}

let server: StartedGrpcServer;
let server2: StartedGrpcServer;
let store: TestStore;
let observed: Array<string | undefined>;

beforeAll(async () => {
  store = new TestStore();
  observed = [];
  server = await startGrpcServer({
    register: (s) =>
      addMemoryStoreService(s, {
        put: (req) => store.put(req),
        query: (req, signal) => store.query(req, signal),
      }),
  });
  // a second server whose handler reports the request metadata it saw
  server2 = await startGrpcServer({
    register: (s) =>
      addEcpsService(s, MemoryStoreDefinition, {
        put: async (_req, ctx) => {
          observed.push(ctx.traceparent);
          return { success: true, message: 'ok' };
        },
        query: async function* () {},
      }),
  });
});
afterAll(async () => {
  await server.close();
  await server2.close();
});

async function codeOf(promise: Promise<unknown>): Promise<{ code: string | undefined; name: string | undefined }> {
  try {
    await promise;
  } catch (error) {
    return { code: isEcpsError(error) ? error.code : String(error), name: (error as Error).name };
  }
  return { code: undefined, name: undefined };
}

describe('MemoryStore over gRPC', () => {
  it('serves /ecps.MemoryStore/Put and streams /ecps.MemoryStore/Query to the typed client', async () => {
    const client = createMemoryStoreClient(server.address);
    try {
      const ack = await client.put(tensor('camera'));
      expect(ack).toEqual({ success: true, message: 'Embedding stored successfully' });
      await client.put(tensor('lidar'));
      const hits: LTP[] = [];
      for await (const hit of client.query({ queryEmbedding: tensor('q'), k: 0, minSim: 0 })) hits.push(hit);
      expect(hits.map((h) => h.frameId)).toEqual(store.stored.map((s) => s.frameId));
      expect(hits[0]!.attributes['similarity']).toBe('1');
      expect(hits[0]!.timestampNs).toBe(1_700_000_000_000_000_000n);
    } finally {
      client.close();
    }
  });

  it('is reachable at the canonical paths by the plain generated grpc-js client', async () => {
    expect(MemoryStoreService.put.path).toBe('/ecps.MemoryStore/Put');
    const raw = new RawMemoryStoreClient(server.address, grpc.credentials.createInsecure());
    try {
      const ack = await new Promise<Ack>((resolve, reject) => raw.put(tensor('raw'), (e, r) => (e ? reject(e) : resolve(r))));
      expect(ack.success).toBe(true);
      const status = await new Promise<grpc.ServiceError>((resolve) => raw.put(tensor('x', 8), (e) => resolve(e!)).cancel());
      expect(status.code).toBe(grpc.status.CANCELLED);
      const bad = await new Promise<grpc.ServiceError>((resolve) => raw.put({ ...tensor('bad'), dtype: 'complex128' }, (e) => resolve(e!)));
      expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.metadata.get('ecps-error-code')).toEqual(['UNSUPPORTED_DTYPE']);
      const big = await new Promise<grpc.ServiceError>((resolve) => raw.put(tensor('too-big'), (e) => resolve(e!)));
      expect(big.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      raw.close();
    }
  });

  it('maps validation errors to INVALID_ARGUMENT and size errors to RESOURCE_EXHAUSTED, back to typed errors', async () => {
    const client = createMemoryStoreClient(server.address);
    try {
      expect(await codeOf(client.put({ ...tensor('a'), spec: 'ltp/2.0' }))).toEqual({ code: 'UNSUPPORTED_VERSION', name: 'ValidationError' });
      expect(await codeOf(client.put(tensor('too-big')))).toEqual({ code: 'FRAME_TOO_LARGE', name: 'ValidationError' });
      expect(await codeOf(client.put(tensor('crash')))).toEqual({ code: 'REMOTE_ERROR', name: 'TransportError' });
      const stream = async () => {
        for await (const _ of client.query({ queryEmbedding: undefined, k: 1, minSim: Number.POSITIVE_INFINITY })) void _;
      };
      expect(await codeOf(stream())).toEqual({ code: 'INVALID_QUERY', name: 'ValidationError' });
      // a request that cannot even be encoded fails locally
      expect(await codeOf(client.query({ queryEmbedding: undefined, k: -1, minSim: 0 })[Symbol.asyncIterator]().next())).toEqual({ code: 'ENCODE_ERROR', name: 'ValidationError' });
      // a stream that fails after its hits delivers them first
      const got: string[] = [];
      const failing = async () => {
        for await (const hit of client.query({ queryEmbedding: undefined, k: 1, minSim: 2 })) got.push(hit.frameId);
      };
      expect(await codeOf(failing())).toEqual({ code: 'NOT_FOUND', name: 'TransportError' });
      expect(got).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('enforces the profile message bound on both sides with MESSAGE_TOO_LARGE', async () => {
    const limit = maxMessageSizeFor({ profile: 'edge-lite' });
    expect(limit).toBe(65_536 + 4096);
    const small = createMemoryStoreClient(server.address, { profile: 'edge-lite' });
    const big = createMemoryStoreClient(server.address, { maxMessageSize: 4 * 1024 * 1024 });
    try {
      expect(await codeOf(small.put(tensor('large', 80_000)))).toEqual({ code: 'MESSAGE_TOO_LARGE', name: 'TransportError' });
      // the server's bound (standard: 1 MiB + 4096) refuses what a laxer client sends
      expect(await codeOf(big.put(tensor('huge', 2 * 1024 * 1024)))).toEqual({ code: 'MESSAGE_TOO_LARGE', name: 'TransportError' });
      expect((await small.put(tensor('fits', 60_000))).success).toBe(true);
    } finally {
      small.close();
      big.close();
    }
  });

  it('fails with TIMEOUT at the deadline and CANCELLED when the signal aborts', async () => {
    const client = createMemoryStoreClient(server.address);
    try {
      expect(await codeOf(client.put(tensor('slow'), { timeoutMs: 100 }))).toEqual({ code: 'TIMEOUT', name: 'TransportError' });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      expect(await codeOf(client.put(tensor('slow'), { signal: controller.signal }))).toEqual({ code: 'CANCELLED', name: 'TransportError' });
      expect(await codeOf(client.put(tensor('x'), { signal: AbortSignal.abort() }))).toEqual({ code: 'CANCELLED', name: 'TransportError' });
    } finally {
      client.close();
    }
  });

  it('cancels the server stream when the consumer stops reading or aborts', async () => {
    const client = createMemoryStoreClient(server.address);
    try {
      store.queryAborted = false;
      let n = 0;
      for await (const _ of client.query({ queryEmbedding: undefined, k: 999, minSim: 0 })) if (++n === 3) break;
      await waitFor(() => store.queryAborted, 'the handler to see the cancellation');
      store.queryAborted = false;
      const controller = new AbortController();
      const read = async () => {
        for await (const _ of client.query({ queryEmbedding: undefined, k: 999, minSim: 0 }, { signal: controller.signal })) controller.abort();
      };
      expect(await codeOf(read())).toEqual({ code: 'CANCELLED', name: 'TransportError' });
      await waitFor(() => store.queryAborted, 'the handler to see the abort');
      // the whole stream has one deadline
      const slow = async () => {
        for await (const _ of client.query({ queryEmbedding: undefined, k: 999, minSim: 0 }, { timeoutMs: 150 })) void _;
      };
      expect(await codeOf(slow())).toEqual({ code: 'TIMEOUT', name: 'TransportError' });
    } finally {
      client.close();
    }
  });

  it('gives a unary handler its call context on demand: the signal aborts on cancel, read before or after it; sync answers and throws', async () => {
    const seen: Array<{ early: boolean; late: boolean; peer: string }> = [];
    const served = await startGrpcServer({
      register: (s) =>
        addEcpsService(s, MemoryStoreDefinition, {
          put: (req, ctx) => {
            if (req.frameId === 'sync') return { success: true, message: 'sync' };
            if (req.frameId === 'throw') throw new ValidationError('FRAME_TOO_LARGE', 'thrown before any promise');
            const early = req.frameId === 'early' ? ctx.signal : undefined; // read before the client cancels
            return new Promise<Ack>((resolve) =>
              setTimeout(() => {
                seen.push({ early: early?.aborted ?? false, late: ctx.signal.aborted, peer: ctx.peer });
                resolve({ success: true, message: 'late' });
              }, 300),
            );
          },
          query: async function* () {},
        }),
    });
    const client = createMemoryStoreClient(served.address);
    try {
      expect(await client.put(tensor('sync'))).toEqual({ success: true, message: 'sync' });
      expect(await codeOf(client.put(tensor('throw')))).toEqual({ code: 'FRAME_TOO_LARGE', name: 'ValidationError' });
      for (const frameId of ['early', 'late']) {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 50);
        expect(await codeOf(client.put(tensor(frameId), { signal: controller.signal }))).toEqual({ code: 'CANCELLED', name: 'TransportError' });
      }
      await waitFor(() => seen.length === 2, 'both handlers to finish');
      expect(seen.map(({ early, late }) => ({ early, late }))).toEqual([
        { early: true, late: true },
        { early: false, late: true },
      ]);
      expect(seen[0]!.peer).toMatch(/127\.0\.0\.1|localhost/);
    } finally {
      client.close();
      await served.close();
    }
  });

  it('sends traceparent as request metadata, per call and from the callMetadata hook', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const hooked = '00-11111111111111111111111111111111-2222222222222222-01';
    const client = createMemoryStoreClient(server2.address, { callMetadata: () => ({ traceparent: hooked }) });
    try {
      await client.put(tensor('t'), { metadata: { traceparent } });
      await client.put(tensor('t'));
      expect(observed).toEqual([traceparent, hooked]);
    } finally {
      client.close();
    }
  });

  it('fails with UNAVAILABLE when nothing listens and with CLOSED after close', async () => {
    const probe = await startGrpcServer();
    const address = probe.address;
    await probe.close();
    const client = createMemoryStoreClient(address);
    expect(await codeOf(client.put(tensor('x'), { timeoutMs: 2000 }))).toEqual({ code: 'UNAVAILABLE', name: 'TransportError' });
    client.close();
    client.close();
    expect(await codeOf(client.put(tensor('x')))).toEqual({ code: 'CLOSED', name: 'TransportError' });
  });

  it('recovers after the channel went idle and after the server restarted on the same port', async () => {
    const handler: MemoryStoreHandler = { put: async () => ({ success: true, message: 'ok' }), query: async function* () {} };
    let own = await startGrpcServer({ register: (s) => addMemoryStoreService(s, handler) });
    const port = own.port;
    const client = createMemoryStoreClient(own.address, { channelOptions: { 'grpc.client_idle_timeout_ms': 1000 } });
    try {
      expect((await client.put(tensor('a'))).success).toBe(true);
      await sleep(1500); // the channel goes idle and drops its connection
      expect((await client.put(tensor('b'))).success).toBe(true);
      await own.close();
      expect(await codeOf(client.put(tensor('c'), { timeoutMs: 1000 }))).toEqual({ code: 'UNAVAILABLE', name: 'TransportError' });
      own = await startGrpcServer({ port, register: (s) => addMemoryStoreService(s, handler) });
      await waitFor(() => true, 'noop');
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await client.put(tensor('d'), { timeoutMs: 1000 }).then((a) => a.success, () => false);
        if (!ok) await sleep(100);
      }
      expect(ok).toBe(true);
    } finally {
      client.close();
      await own.close();
    }
  });
});
