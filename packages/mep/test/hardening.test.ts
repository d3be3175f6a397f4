// SPDX-License-Identifier: Apache-2.0
// Hostile input, restarts, lost and reordered rollbacks, forged acknowledgements and swallowed errors (issue 12).
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  ManualClock,
  TransportError,
  nodeSource,
  seededRandom,
  type Logger,
  type Transport,
} from '@ecps/core';
import { MepReplicate, MepReplicateAck } from '@ecps/proto/ext/v1';
import { decodeMessageEvent, encodeMessageEvent } from '@ecps/serialization';
import { faultyTransport, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { IdentitySigner, KeyDirectory, SoftwareKeyProvider, secureTransport } from '@ecps/trust';
import { createMemoryStore, type MemoryStore, type MemoryStoreOptions } from '../src/memory-store';
import { MEP_EVENT_TYPES, mepTopics, type ReplicationOptions } from '../src/replication';
import { f64Frame, queryOf } from './helpers';

const vector = (store: MemoryStore, key: string): number[] | undefined => {
  const record = store.get(key);
  return record && Array.from(new Float64Array(record.tensor.bytes.slice().buffer));
};

/** A logger that keeps what it is told at warn and above. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const keep = (message: string, fields?: Record<string, unknown>) => void warnings.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { warnings, debug: () => undefined, info: () => undefined, warn: keep, error: keep };
}

describe('MEP queries bound what a requester declares', () => {
  it('refuses a k above the cap with INVALID_QUERY before allocating anything', async () => {
    const store = await createMemoryStore();
    await store.put(await f64Frame([1, 0], 'x'));
    for (const k of [2 ** 32 - 1, 1_000_001]) {
      await expect(store.search({ ...(await queryOf([1, 0])), k })).rejects.toMatchObject({ code: 'INVALID_QUERY' });
    }
    expect(() => store.searchVector([1, 0], -1, 0)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }) as unknown as Error);
    expect(() => store.searchVector([1, 0], 1.5, 0)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }) as unknown as Error);
    // the largest allowed k answers with what the store holds
    expect(await store.search({ ...(await queryOf([1, 0])), k: 10_000 })).toHaveLength(1);
    const small = await createMemoryStore({ maxQueryK: 5 });
    await expect(small.search({ ...(await queryOf([1, 0])), k: 6 })).rejects.toMatchObject({ code: 'INVALID_QUERY' });
    await expect(createMemoryStore({ maxQueryK: 0 })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

interface Cluster {
  bus: MemoryBus;
  clock: ManualClock;
  stores: Record<string, MemoryStore>;
  transports: Record<string, Transport>;
  start(node: string, transport?: Transport, options?: Partial<ReplicationOptions> & Pick<MemoryStoreOptions, 'logger'>): Promise<MemoryStore>;
  close(): Promise<void>;
}

function cluster(nodes: readonly string[], mode: 'strong' | 'eventual', defaults: Partial<ReplicationOptions> = {}): Cluster {
  const bus = new MemoryBus();
  const clock = new ManualClock(1_700_000_000_000);
  const c: Cluster = {
    bus,
    clock,
    stores: {},
    transports: {},
    async start(node, transport, options = {}) {
      const t = transport ?? c.transports[node] ?? memoryTransport({ nodeId: node, bus });
      c.transports[node] = t;
      await t.connect();
      const { logger, ...replication } = options;
      const store = await createMemoryStore({
        nodeId: node,
        clock,
        random: seededRandom(Object.keys(c.stores).length + 7),
        ...(logger ? { logger } : {}),
        replication: { transport: t, peers: nodes.filter((n) => n !== node), mode, antiEntropyIntervalMs: 0, ...defaults, ...replication },
      });
      c.stores[node] = store;
      return store;
    },
    async close() {
      await Promise.all(Object.values(c.stores).map((s) => s.close()));
      await Promise.all(Object.values(c.transports).map((t) => t.close()));
    },
  };
  return c;
}

/** A replica whose acknowledgements never reach anyone, so that every strong write to it fails after applying. */
function muted(c: Cluster, node: string): Transport {
  return faultyTransport(memoryTransport({ nodeId: node, bus: c.bus }), { dropRate: 1, match: (e) => e.type === MEP_EVENT_TYPES.ack });
}

async function antiEntropyEverywhere(c: Cluster): Promise<void> {
  for (const store of Object.values(c.stores)) await store.antiEntropy();
}

describe('MEP replication: restarts', () => {
  let c: Cluster | undefined;
  afterEach(async () => c?.close());

  it('never lets a write made after a restart without a snapshot be overwritten by the older data it replaced', async () => {
    c = cluster(['a', 'b', 'c'], 'strong');
    const a = await c.start('a');
    const b = await c.start('b');
    const cc = await c.start('c');
    expect((await a.put(await f64Frame([1, 0], 'k'))).success).toBe(true);
    expect((await a.put(await f64Frame([2, 0], 'k'))).success).toBe(true);
    await waitFor(() => vector(b, 'k')?.[0] === 2 && vector(cc, 'k')?.[0] === 2, 'the first two writes everywhere');

    // a crashes and comes back empty: no snapshot, nothing on disk
    await a.close();
    c.clock.advance(1000);
    const restarted = await c.start('a');
    expect(restarted.get('k')).toBeUndefined();
    const ack = await restarted.put(await f64Frame([3, 0], 'k'));
    expect(ack.success).toBe(true);
    await waitFor(() => vector(b, 'k')?.[0] === 3 || vector(cc, 'k')?.[0] === 3, 'the acknowledged write at a replica');

    await antiEntropyEverywhere(c);
    await antiEntropyEverywhere(c);
    await waitFor(
      () => [restarted, b, cc].every((s) => vector(s, 'k')?.[0] === 3),
      'every replica to keep the acknowledged write',
    );
  });
});

describe('MEP replication: lost and reordered rollbacks', () => {
  let c: Cluster | undefined;
  afterEach(async () => c?.close());

  it('converges when the rollback to one replica is dropped', async () => {
    c = cluster(['a', 'b', 'c'], 'strong');
    let toB = 0;
    // every message a sends to b after its first one (the write itself) is dropped: the rollback never reaches b
    const faulty = faultyTransport(memoryTransport({ nodeId: 'a', bus: c.bus }), {
      dropRate: 1,
      match: (_event, topic) => topic === mepTopics.replicate('b') && toB++ > 0,
    });
    const a = await c.start('a', faulty);
    const b = await c.start('b', muted(c, 'b'));
    const cc = await c.start('c', muted(c, 'c'));
    const pending = a.put(await f64Frame([7, 7], 'k'));
    await waitFor(() => vector(b, 'k')?.[0] === 7 && vector(cc, 'k')?.[0] === 7, 'b and c applied the write');
    c.clock.advance(5000);
    expect(await pending).toEqual({ success: false, message: 'quorum not reached' });
    expect(a.get('k')).toBeUndefined();
    await waitFor(() => cc.get('k') === undefined, 'c got the rollback');
    expect(faulty.faults.dropped).toBeGreaterThan(0);
    expect(vector(b, 'k')).toEqual([7, 7]);

    await antiEntropyEverywhere(c);
    await waitFor(() => [a, b, cc].every((s) => s.get('k') === undefined), 'anti-entropy repairs the lost rollback');
    // and it stays repaired: another round spreads nothing back
    await antiEntropyEverywhere(c);
    await new Promise((r) => setTimeout(r, 20));
    expect([a, b, cc].map((s) => s.get('k'))).toEqual([undefined, undefined, undefined]);
  });

  it('converges when the rollback overtakes the write it undoes', async () => {
    c = cluster(['a', 'b', 'c'], 'strong');
    // a's messages to c: the write is held back and delivered after the next one (the rollback)
    const faulty = faultyTransport(memoryTransport({ nodeId: 'a', bus: c.bus }), {
      reorderRate: 1,
      holdMs: 60_000,
      match: (_event, topic) => topic === mepTopics.replicate('c'),
    });
    const a = await c.start('a', faulty);
    const b = await c.start('b', muted(c, 'b'));
    const cc = await c.start('c', muted(c, 'c'));
    const pending = a.put(await f64Frame([7, 7], 'k'));
    await waitFor(() => vector(b, 'k')?.[0] === 7, 'b applied the write');
    expect(cc.get('k')).toBeUndefined(); // held back
    c.clock.advance(5000);
    expect(await pending).toEqual({ success: false, message: 'quorum not reached' });
    // to c: the write was held, the undo passed it, then the write arrived
    await waitFor(() => faulty.faults.reordered >= 1 && faulty.faults.passed >= 1 && b.get('k') === undefined, 'rollback at b');
    await new Promise((r) => setTimeout(r, 20));
    // the write reached c after its rollback; it must not survive there
    await antiEntropyEverywhere(c);
    await waitFor(() => [a, b, cc].every((s) => s.get('k') === undefined), 'no replica keeps the rolled-back write');
  });
});

describe('MEP replication: acknowledgements and errors', () => {
  let c: Cluster | undefined;
  afterEach(async () => c?.close());

  it('counts quorum acknowledgements by the authenticated sender, not the node named in the message', async () => {
    // R = 5: a needs two acknowledgements; only b exists, and b lies that c acknowledged too
    c = cluster(['a', 'b', 'c', 'd', 'e'], 'strong', { replicationFactor: 5 });
    const bus = c.bus;
    const keys = new KeyDirectory();
    const secure = async (id: string): Promise<Transport> => {
      const provider = new SoftwareKeyProvider();
      await provider.generateKey(`${id}-k`, 'ed25519');
      const identity = { id, keyId: `${id}-k`, provider };
      keys.add(await new IdentitySigner(identity).trustedKey());
      return secureTransport(memoryTransport({ nodeId: id, bus }), { identity, keys, level: 'authenticated', confidentiality: false });
    };
    const a = await c.start('a', await secure('a'));
    const liar = await secure('b');
    await liar.connect();
    c.transports['b'] = liar;
    await liar.subscribe(mepTopics.replicate('b'), async (event) => {
      const write = decodeMessageEvent(MepReplicate, event);
      for (const ackNode of ['b', 'c']) {
        const ack = encodeMessageEvent(MEP_EVENT_TYPES.ack, MepReplicateAck, { operationId: write.operationId, ackNode, success: true, message: 'applied' }, { source: nodeSource('b') });
        await liar.publish(mepTopics.ack('a'), ack);
      }
    });
    const pending = a.put(await f64Frame([5, 5], 'k'));
    await new Promise((r) => setTimeout(r, 50));
    c.clock.advance(5000);
    expect(await pending).toEqual({ success: false, message: 'quorum not reached' });
  });

  it('takes replicated versions only from configured peers', async () => {
    c = cluster(['a', 'b'], 'eventual');
    const logger = recordingLogger();
    const a = await c.start('a', undefined, { logger });
    const source = await createMemoryStore({ nodeId: 'stranger', random: seededRandom(99) });
    await source.put(await f64Frame([6, 6], 'planted'));
    const { entries } = await source.snapshot();
    const stranger = memoryTransport({ nodeId: 'stranger', bus: c.bus });
    await stranger.connect();
    c.transports['stranger'] = stranger;
    const write = { operationId: 'x', sourceNode: 'b', entries, requiresAck: false };
    await stranger.publish(mepTopics.replicate('a'), encodeMessageEvent(MEP_EVENT_TYPES.replicate, MepReplicate, write, { source: nodeSource('stranger') }));
    await waitFor(() => logger.warnings.some((w) => w.includes('not a configured peer')), 'the refusal at warn');
    expect(a.get('planted')).toBeUndefined();
    await source.close();
  });

  it('reports peer publish failures and failed rollbacks to the logger at warn', async () => {
    c = cluster(['a', 'b'], 'strong', { replicationFactor: 2 });
    const inner = memoryTransport({ nodeId: 'a', bus: c.bus });
    let fail = false;
    const flaky: Transport = {
      kind: inner.kind,
      maxPayloadSize: inner.maxPayloadSize,
      connect: () => inner.connect(),
      publish: (topic, event, options) => (fail ? Promise.reject(new TransportError('UNAVAILABLE', 'link down')) : inner.publish(topic, event, options)),
      subscribe: (filter, handler, options) => inner.subscribe(filter, handler, options),
      request: (service, request, options) => inner.request(service, request, options),
      serve: (service, handler) => inner.serve(service, handler),
      requestStream: (service, request, options) => inner.requestStream(service, request, options),
      serveStream: (service, handler) => inner.serveStream(service, handler),
      close: () => inner.close(),
    };
    const logger = recordingLogger();
    const a = await c.start('a', flaky, { logger });
    await c.start('b');
    fail = true;
    const pending = a.put(await f64Frame([1, 2], 'k'));
    await waitFor(() => logger.warnings.some((w) => w.includes('UNAVAILABLE')), 'the failed publish at warn');
    c.clock.advance(5000);
    expect(await pending).toEqual({ success: false, message: 'quorum not reached' });
    await waitFor(() => logger.warnings.filter((w) => w.includes('UNAVAILABLE')).length >= 2, 'the failed rollback publish at warn');
  });
});
