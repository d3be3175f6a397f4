// SPDX-License-Identifier: Apache-2.0
// gRPC: the ECPS MemoryStore client and server (@ecps/transport-grpc) against plain grpc-js with the same generated
// service definition, and the gRPC bus Transport against a plain grpc-js unary call. Same process, same loopback.
import * as grpc from '@grpc/grpc-js';
import type { EcpsEvent, Transport } from '@ecps/core';
import { LTP, MemoryStoreClient as RawMemoryStoreClient, MemoryStoreService, type Ack, type QueryReq } from '@ecps/proto';
import {
  addMemoryStoreService,
  createMemoryStoreClient,
  grpcBusServer,
  grpcTransport,
  startGrpcServer,
  type GrpcBusServer,
  type MemoryStoreClient,
  type StartedGrpcServer,
} from '@ecps/transport-grpc';
import type { BenchCase } from '../harness';

const CONCURRENCY = 16;
const STREAM_HITS = 2000;
const MIN_MS = 1000;
const tensor = LTP.fromPartial({ spec: 'ltp/0.9', tensorZstd: new Uint8Array(1024).fill(3), shape: [256], dtype: 'f32', frameId: 'bench', timestampNs: 1n });
const ack: Ack = { success: true, message: 'Embedding stored successfully' };
const query: QueryReq = { queryEmbedding: tensor, k: STREAM_HITS, minSim: 0 };

/** Runs `call` from `CONCURRENCY` loops for at least MIN_MS; returns completed calls per second. */
async function concurrentOpsPerSecond(call: () => Promise<unknown>): Promise<number> {
  let done = 0;
  const start = performance.now();
  const loop = async () => {
    while (performance.now() - start < MIN_MS) {
      await call();
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return (done * 1000) / (performance.now() - start);
}

/** Runs `stream` (which returns the items it received) repeatedly for at least MIN_MS; returns items per second. */
async function itemsPerSecond(stream: () => Promise<number>): Promise<number> {
  let items = 0;
  const start = performance.now();
  while (performance.now() - start < MIN_MS) items += await stream();
  return (items * 1000) / (performance.now() - start);
}

let ours: StartedGrpcServer;
let raw: StartedGrpcServer;
let oursClient: MemoryStoreClient;
let rawClient: InstanceType<typeof RawMemoryStoreClient>;

async function setupStores(): Promise<void> {
  ours = await startGrpcServer({
    register: (s) =>
      addMemoryStoreService(s, {
        put: async () => ack,
        query: async function* (req) {
          for (let i = 0; i < req.k; i++) yield tensor;
        },
      }),
  });
  // the baseline server is plain grpc-js with the generated service definition and the same limits
  const rawServer = new grpc.Server({ 'grpc.max_receive_message_length': 1_052_672, 'grpc.max_send_message_length': 1_052_672 });
  rawServer.addService(MemoryStoreService, {
    put: (_call: grpc.ServerUnaryCall<LTP, Ack>, callback: grpc.sendUnaryData<Ack>) => callback(null, ack),
    query: async (call: grpc.ServerWritableStream<QueryReq, LTP>) => {
      for (let i = 0; i < call.request.k; i++) {
        if (!call.write(tensor)) await new Promise((resolve) => call.once('drain', resolve));
      }
      call.end();
    },
  });
  raw = await new Promise<StartedGrpcServer>((resolve, reject) =>
    rawServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
      error
        ? reject(error)
        : resolve({ server: rawServer, port, address: `127.0.0.1:${port}`, close: () => new Promise((r) => rawServer.tryShutdown(() => r())) }),
    ),
  );
  oursClient = createMemoryStoreClient(ours.address);
  rawClient = new RawMemoryStoreClient(raw.address, grpc.credentials.createInsecure());
}

async function teardownStores(): Promise<void> {
  oursClient.close();
  rawClient.close();
  await ours.close();
  await raw.close();
}

const rawPut = () => new Promise<Ack>((resolve, reject) => rawClient.put(tensor, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r))));

const unary: BenchCase = {
  name: `gRPC MemoryStore.Put unary, 1 KiB LTP, ${CONCURRENCY} in flight (ECPS client+server vs raw grpc-js)`,
  unit: 'ops/s',
  higherIsBetter: true,
  target: 0.9, // issue 21
  setup: setupStores,
  teardown: teardownStores,
  ours: () => concurrentOpsPerSecond(() => oursClient.put(tensor)),
  baseline: () => concurrentOpsPerSecond(rawPut),
};

const streaming: BenchCase = {
  name: `gRPC MemoryStore.Query server streaming, ${STREAM_HITS} x 1 KiB hits (ECPS client+server vs raw grpc-js)`,
  unit: 'msg/s',
  higherIsBetter: true,
  setup: setupStores,
  teardown: teardownStores,
  ours: () =>
    itemsPerSecond(async () => {
      let n = 0;
      for await (const _ of oursClient.query(query)) n++;
      return n;
    }),
  baseline: () =>
    itemsPerSecond(
      () =>
        new Promise<number>((resolve, reject) => {
          let n = 0;
          const call = rawClient.query(query, { deadline: Date.now() + 15_000 });
          call.on('data', () => n++);
          call.on('error', reject);
          call.on('end', () => resolve(n));
        }),
    ),
};

let bus: GrpcBusServer;
let a: Transport;
let b: Transport;
const request: EcpsEvent = { id: 'bench', source: 'urn:ecps:a', type: 'ecps.ltp.tensor', data: LTP.encode(tensor).finish() };

const transportRequest: BenchCase = {
  name: `gRPC Transport request/reply via the bus router, 1 KiB, ${CONCURRENCY} in flight (vs raw grpc-js unary)`,
  unit: 'ops/s',
  higherIsBetter: true,
  async setup() {
    await setupStores();
    bus = await grpcBusServer();
    a = grpcTransport({ target: bus.address, nodeId: 'a' });
    b = grpcTransport({ target: bus.address, nodeId: 'b' });
    await a.connect();
    await b.connect();
    await b.serve('MemoryStore.Put', (req) => ({ ...req, source: 'urn:ecps:b', type: 'ecps.mep.ack' }));
  },
  async teardown() {
    await a.close();
    await b.close();
    await bus.close();
    await teardownStores();
  },
  ours: () => concurrentOpsPerSecond(() => a.request('MemoryStore.Put', request, { timeoutMs: 10_000 })),
  baseline: () => concurrentOpsPerSecond(rawPut),
};

export default [unary, streaming, transportRequest];
