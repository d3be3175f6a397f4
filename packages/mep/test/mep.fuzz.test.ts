// SPDX-License-Identifier: Apache-2.0
// Fuzz targets: MEP entries as a snapshot restore reads them, and every replication message as a replica receives
// it from a peer (MepReplicate, MepRollback, MepReplicateAck, MepDigest, MepSnapshot).
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import {
  ManualClock,
  TransportError,
  isEcpsError,
  seededRandom,
  type EcpsEvent,
  type EventHandler,
  type Logger,
  type Subscription,
  type Transport,
} from '@ecps/core';
import { MepDigest, MepEntry, MepReplicate, MepReplicateAck, MepRollback, MepSnapshot } from '@ecps/proto/ext/v1';
import { protobufCodec } from '@ecps/serialization';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzReport, type FuzzTarget } from '@ecps/testkit/fuzz';
import { createMemoryStore, type MemoryStore } from '../src/memory-store';
import { MEP_EVENT_TYPES, mepTopics } from '../src/replication';
import { f64Frame } from './helpers';

const corpusDir = (target: string) => fileURLToPath(new URL(`../fuzz-corpus/${target}/`, import.meta.url));
const timeout = () => Number(process.env['ECPS_FUZZ_MS'] ?? 2000) * 2 + 30_000;
const invariant = (condition: boolean, what: string) => {
  if (!condition) throw new FuzzInvariantError(what);
};

function expectClean(report: FuzzReport): void {
  expect(report.failure).toBeUndefined();
  expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
  expect(report.iterations).toBeGreaterThan(0);
}

/** Versions as a peer would send them: a few writes, an overwrite and a delete on a real store. */
async function sampleEntries(): Promise<MepEntry[]> {
  const source = await createMemoryStore({ nodeId: 'b', clock: new ManualClock(1_700_000_000_000), random: seededRandom(3) });
  await source.put(await f64Frame([1, 0, 0], 'cup'));
  await source.put(await f64Frame([0, 1], 'tray'));
  await source.put(await f64Frame([0.5, 0.5, 0], 'cup'));
  await source.delete('tray');
  const { entries } = await source.snapshot();
  await source.close();
  return entries;
}

async function entryTarget(): Promise<FuzzTarget> {
  const entries = await sampleEntries();
  const decode = protobufCodec(MepEntry).decode;
  const name = 'mep-entry';
  return {
    name,
    seeds: [...entries.map((e) => MepEntry.encode(e).finish()), ...loadCorpus(corpusDir(name))],
    isExpected: isEcpsError,
    async run(input) {
      const entry = decode(input);
      const store = await createMemoryStore({ nodeId: 'a', maxSize: 4 });
      try {
        await store.restore({ nodeId: 'b', versionVector: {}, entryCount: 1n, timestampNs: 0n, entries: [entry] });
      } catch (error) {
        // all or nothing: a refused entry leaves no trace
        invariant((await store.snapshot()).entries.length === 0, 'a refused entry changed the store');
        throw error;
      }
      // what was accepted survives a snapshot round trip unchanged
      const snapshot = await store.snapshot();
      invariant(snapshot.entries.length === 1, `one entry restored as ${snapshot.entries.length}`);
      const again = await createMemoryStore({ nodeId: 'c' });
      await again.restore(snapshot);
      invariant(Buffer.from(MepSnapshot.encode({ ...(await again.snapshot()), nodeId: 'a', timestampNs: 0n }).finish()).equals(Buffer.from(MepSnapshot.encode({ ...snapshot, timestampNs: 0n }).finish())), 'a restored entry changed on a second restore');
      await Promise.all([store.close(), again.close()]);
    },
  };
}

/** Drives a replica's subscriptions directly: `deliver` resolves when the replica has handled the message. */
class LoopbackTransport implements Transport {
  readonly kind = 'memory';
  readonly maxPayloadSize = 1 << 20;
  private readonly handlers = new Map<string, EventHandler>();

  async connect(): Promise<void> {}
  async publish(): Promise<void> {} // the replica's answers go nowhere: there are no real peers
  async subscribe(filter: string, handler: EventHandler): Promise<Subscription> {
    this.handlers.set(filter, handler);
    return { filter, unsubscribe: async () => void this.handlers.delete(filter) };
  }
  async deliver(topic: string, event: EcpsEvent): Promise<void> {
    await this.handlers.get(topic)?.(event, topic);
  }
  request(): Promise<EcpsEvent> {
    return Promise.reject(new TransportError('UNSUPPORTED', 'no RPC in the loopback'));
  }
  serve(): Promise<Subscription> {
    return Promise.reject(new TransportError('UNSUPPORTED', 'no RPC in the loopback'));
  }
  // eslint-disable-next-line require-yield
  async *requestStream(): AsyncIterable<EcpsEvent> {
    throw new TransportError('UNSUPPORTED', 'no RPC in the loopback');
  }
  serveStream(): Promise<Subscription> {
    return Promise.reject(new TransportError('UNSUPPORTED', 'no RPC in the loopback'));
  }
  async close(): Promise<void> {}
}

const KINDS = [
  { type: MEP_EVENT_TYPES.replicate, topic: mepTopics.replicate('a') },
  { type: MEP_EVENT_TYPES.rollback, topic: mepTopics.replicate('a') },
  { type: MEP_EVENT_TYPES.snapshot, topic: mepTopics.replicate('a') },
  { type: MEP_EVENT_TYPES.ack, topic: mepTopics.ack('a') },
  { type: MEP_EVENT_TYPES.digest, topic: mepTopics.antiEntropy('a') },
] as const;

async function replicationTarget(): Promise<FuzzTarget> {
  const entries = await sampleEntries();
  const transport = new LoopbackTransport();
  const failures: string[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m, f) => void failures.push(`${m} ${JSON.stringify(f)}`) };
  const maxSize = 8;
  const store: MemoryStore = await createMemoryStore({
    nodeId: 'a',
    maxSize,
    logger,
    clock: new ManualClock(1_700_000_000_000),
    random: seededRandom(5),
    replication: { transport, peers: ['b'], mode: 'eventual', antiEntropyIntervalMs: 0 },
  });
  const frame = (kind: number, message: Uint8Array) => Uint8Array.of(kind, ...message);
  const seeds = [
    frame(0, MepReplicate.encode({ operationId: 'op-1', sourceNode: 'b', entries, requiresAck: true }).finish()),
    frame(1, MepRollback.encode({ operationId: 'op-1', sourceNode: 'b', dots: [entries[0]!.dot!] }).finish()),
    frame(2, MepSnapshot.encode({ nodeId: 'b', versionVector: { 'b#1': 4n }, entryCount: BigInt(entries.length), timestampNs: 1n, entries }).finish()),
    frame(3, MepReplicateAck.encode({ operationId: 'op-1', ackNode: 'b', success: true, message: 'applied' }).finish()),
    frame(4, MepDigest.encode({ nodeId: 'b', summary: { 'b#1': 2n } }).finish()),
  ];
  const name = 'mep-replication';
  let n = 0;
  return {
    name,
    seeds: [...seeds, ...loadCorpus(corpusDir(name))],
    isExpected: isEcpsError,
    async run(input) {
      if (input.length === 0) return;
      const kind = KINDS[input[0]! % KINDS.length]!;
      const event: EcpsEvent = { id: `e-${++n}`, source: 'urn:ecps:b', type: kind.type, datacontenttype: 'application/protobuf', data: input.subarray(1) };
      await transport.deliver(kind.topic, event);
      // the replica logs at error what was not a typed refusal: that is an untyped exception of the handler
      const failure = failures.shift();
      if (failure) throw new Error(failure);
      invariant(store.size <= maxSize, `${store.size} live entries above maxSize ${maxSize}`);
    },
  };
}

describe('fuzz: MEP', () => {
  it('entries: typed refusals only, all or nothing, and what is accepted round-trips', async () => {
    expectClean(await runFuzzTarget(await entryTarget()));
  }, timeout());

  it('replication messages: typed refusals only, and the store stays within its bounds', async () => {
    expectClean(await runFuzzTarget(await replicationTarget()));
  }, timeout());
});
