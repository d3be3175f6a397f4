// SPDX-License-Identifier: Apache-2.0
// SW4RM router with its default settings (dedup on, queue capacity, in-flight window) and delivery acks (durable
// LevelDB rows, fsync'd group commits) for 1 KiB envelopes, against a raw grpc-js server that forwards the same
// bytes from a unary SendMessage to an open server stream, in memory, with the same unary ack per delivery.
// Throughput (10,000 messages, 16 sends in flight; the consumer's queue fills, so sends are held by the router or
// refused and retried by the producer) and one-at-a-time latency. The raw side stores nothing, so a latency row
// against it includes one fdatasync that the raw side never pays; the last row compares with a raw side that appends
// each send to a file and fdatasyncs it before answering (and appends each ack unsynced), as the router's store does.
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import type { ClientReadableStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { MessageType, buildEnvelope, createClient } from '@ecps/sw4rm';
import type { ClientOf } from '@ecps/sw4rm';
import type { StreamItem } from '@ecps/sw4rm/proto';
import { Envelope } from '@ecps/sw4rm/proto';
import { startRouter } from '@ecps/sw4rm-router';
import type { RunningRouter } from '@ecps/sw4rm-router';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { median, type BenchCase } from '../harness';

const N = Number(process.env['SW4RM_BENCH_N'] ?? 10_000);
const IN_FLIGHT = 16;
const payload = new Uint8Array(1024).fill(7);
const envelope = () => buildEnvelope({ producerId: 'p', messageType: MessageType.DATA, payload });

// ---- ours: the router ----
let dir: string;
let running: RunningRouter;
let store: LevelKvStore;
let client: ClientOf<'router'>;
let ourStream: ClientReadableStream<StreamItem>;
let onOurs: ((id: string) => void) | undefined;

// ---- baseline: raw grpc-js forwarding ----
let raw: Server;
let rawClient: Client;
let rawSink: ServerWritableStream<Buffer, Buffer> | undefined;
let rawStream: ClientReadableStream<Buffer>;
let onRaw: ((bytes: Buffer) => void) | undefined;
/** When set, the raw side is durable: each send appended and fdatasync'd before it is forwarded and answered. */
let rawLog: FileHandle | undefined;
const pass = (b: Buffer) => b;

async function setupAll(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'bench-sw4rm-'));
  store = await LevelKvStore.open(join(dir, 'router.db'));
  running = await startRouter({ store, port: 0, drainGraceMs: 0 });
  client = createClient('router', `127.0.0.1:${running.port}`);
  await running.router.addKnownAgent('p');
  ourStream = client.streamIncoming({ agentId: 'c' }, { timeoutMs: 3_600_000 });
  ourStream.on('data', (item: StreamItem) => {
    client
      .ackDelivery({ agentId: 'c', seq: item.seq, messageId: item.msg!.messageId })
      .then(() => onOurs?.(item.msg!.messageId))
      .catch(() => undefined);
  });
  ourStream.on('error', () => undefined);
  while (!running.router.knownAgents().includes('c')) await new Promise((r) => setTimeout(r, 5));

  raw = new Server();
  raw.addService(
    {
      Send: { path: '/raw.Forward/Send', requestStream: false, responseStream: false, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
      Stream: { path: '/raw.Forward/Stream', requestStream: false, responseStream: true, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
      Ack: { path: '/raw.Forward/Ack', requestStream: false, responseStream: false, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
    },
    {
      Send: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const forward = () => {
          rawSink?.write(call.request);
          cb(null, Buffer.from([8, 1]));
        };
        if (!rawLog) return forward();
        const log = rawLog;
        log.write(call.request).then(() => log.datasync()).then(forward, (err: Error) => cb(err, null));
      },
      Stream: (call: ServerWritableStream<Buffer, Buffer>) => {
        rawSink = call;
      },
      Ack: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        if (!rawLog) return cb(null, Buffer.from([8, 1]));
        rawLog.write(call.request).then(() => cb(null, Buffer.from([8, 1])), (err: Error) => cb(err, null));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => raw.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  rawClient = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  rawStream = rawClient.makeServerStreamRequest('/raw.Forward/Stream', pass, pass, Buffer.alloc(0), { deadline: Date.now() + 3_600_000 });
  rawStream.on('data', (bytes: Buffer) => {
    rawClient.makeUnaryRequest('/raw.Forward/Ack', pass, pass, bytes.subarray(0, 16), {}, () => onRaw?.(bytes));
  });
  rawStream.on('error', () => undefined);
  while (!rawSink) await new Promise((r) => setTimeout(r, 5));
}

async function teardownAll(): Promise<void> {
  await rawLog?.close();
  rawLog = undefined;
  ourStream.cancel();
  client.close();
  await running.stop(0);
  rmSync(dir, { recursive: true, force: true });
  rawStream.cancel();
  rawClient.close();
  raw.forceShutdown();
}

const rawSend = (bytes: Uint8Array) =>
  new Promise<void>((resolve, reject) => rawClient.makeUnaryRequest('/raw.Forward/Send', pass, pass, Buffer.from(bytes), {}, (e) => (e ? reject(e) : resolve())));

/** Sends N envelopes with IN_FLIGHT concurrent sends; resolves msg/s once all N were delivered and acked. */
async function throughput(send: (env: Envelope) => Promise<void>, setDone: (fn: (() => void) | undefined) => void): Promise<number> {
  let delivered = 0;
  const all = new Promise<void>((resolve) => setDone(() => ++delivered === N && resolve()));
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N) {
        next++;
        await send(envelope());
      }
    }),
  );
  await all;
  setDone(undefined);
  return (N * 1000) / (performance.now() - start);
}

/** Median ms from send to delivery (acked) for 50 envelopes sent one at a time. */
async function latency(send: (env: Envelope) => Promise<void>, setDone: (fn: (() => void) | undefined) => void): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) {
    const got = new Promise<void>((resolve) => setDone(resolve));
    const t0 = performance.now();
    await send(envelope());
    await got;
    samples.push(performance.now() - t0);
  }
  setDone(undefined);
  return median(samples);
}

let fullRetries = 0;
/** A producer as SW4RM expects one: a full recipient queue (`buffer_full`) is back-pressure, so it retries. */
const ourSend = async (env: Envelope) => {
  for (;;) {
    const r = await client.sendMessage({ msg: env });
    if (r.accepted) return;
    if (!r.reason.startsWith('buffer_full')) throw new Error(r.reason);
    fullRetries++;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};
const rawSendEnv = (env: Envelope) => rawSend(Envelope.encode(env).finish());
const setOurs = (fn: (() => void) | undefined) => (onOurs = fn && (() => fn()));
const setRaw = (fn: (() => void) | undefined) => (onRaw = fn && (() => fn()));

let fsyncsAtStart = 0;
let sentAtStart = 0;
let retriesAtStart = 0;
let sent = 0;
const countedSend = async (env: Envelope) => {
  await ourSend(env);
  sent++;
};

const cases: BenchCase[] = [
  {
    name: `SW4RM router, default settings, delivery acks, 1 KiB envelopes, durable, ${N} messages (vs raw grpc-js server stream)`,
    unit: 'msg/s',
    higherIsBetter: true,
    repetitions: 5,
    target: 0.7,
    setup: async () => {
      await setupAll();
      fsyncsAtStart = store.fsyncs;
      sentAtStart = sent;
      retriesAtStart = fullRetries;
    },
    teardown: teardownAll,
    ours: () => throughput(countedSend, setOurs),
    baseline: () => throughput(rawSendEnv, setRaw),
    details: () => ({
      notes: [
        `ours: ${((store.fsyncs - fsyncsAtStart) / (sent - sentAtStart)).toFixed(3)} fsyncs per message (group commit; the raw side stores nothing), ` +
          `${fullRetries - retriesAtStart} sends retried after buffer_full`,
      ],
    }),
  },
  {
    name: 'SW4RM router send→delivery latency with delivery ack, 1 KiB (vs raw grpc-js server stream)',
    unit: 'ms',
    higherIsBetter: false,
    repetitions: 5,
    setup: () => setupAll(),
    teardown: teardownAll,
    ours: () => latency(ourSend, setOurs),
    baseline: () => latency(rawSendEnv, setRaw),
  },
  {
    name: 'SW4RM router send→delivery latency with delivery ack, 1 KiB (vs raw grpc-js server stream, each send fdatasync\'d to a file)',
    unit: 'ms',
    higherIsBetter: false,
    repetitions: 5,
    setup: async () => {
      await setupAll();
      rawLog = await open(join(dir, 'raw.log'), 'a');
    },
    teardown: teardownAll,
    ours: () => latency(ourSend, setOurs),
    baseline: () => latency(rawSendEnv, setRaw),
  },
];

export default cases;
