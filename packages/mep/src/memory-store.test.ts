// SPDX-License-Identifier: Apache-2.0
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { isEcpsError, seededRandom } from '@ecps/core';
import { createTensor, encodeTensorFrame } from '@ecps/ltp';
import type { LTP, QueryReq } from '@ecps/proto';
import { f32Frame, f64Frame, queryOf } from '../test/helpers';
import { LocalMemory } from './local-memory';
import { createMemoryStore, DEFAULT_QUERY_K, MemoryStore, PUT_OK_MESSAGE } from './memory-store';
import { readSnapshotFile, writeSnapshotFile } from './snapshot-file';

async function collect(stream: AsyncIterable<LTP>): Promise<LTP[]> {
  const out: LTP[] = [];
  for await (const frame of stream) out.push(frame);
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isEcpsError(error) ? error.code : 'not-ecps';
  }
  return undefined;
}

const keysOf = (frames: LTP[]) => frames.map((f) => f.attributes['mep_id']);
const simsOf = (frames: LTP[]) => frames.map((f) => f.attributes['similarity']);

async function run(store: MemoryStore, request: QueryReq): Promise<LTP[]> {
  return collect(store.query(request, new AbortController().signal));
}

describe('MemoryStore Put (spec §7.2)', () => {
  it('stores under mep_id with frame_id, timestamp, dtype and shape, and acks with the spec text', async () => {
    const store = await createMemoryStore();
    const ack = await store.put(await f64Frame([1, 2, 3], 'a', 'camera'));
    expect(ack).toEqual({ success: true, message: PUT_OK_MESSAGE });
    const record = store.get('a')!;
    expect(record.frameId).toBe('camera');
    expect(record.timestampNs).toBe(1_700_000_000_000_000_000n);
    expect(record.tensor.dtype).toBe('f64');
    expect(record.tensor.shape).toEqual([3]);
  });

  it('generates a UUID v4 key without mep_id', async () => {
    const store = await createMemoryStore({ random: seededRandom(1) });
    await store.put(await f64Frame([1, 0]));
    expect(store.keys()[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses an invalid LTP with Ack false and the reason, losing nothing', async () => {
    const store = await createMemoryStore();
    await store.put(await f64Frame([1, 0], 'kept'));
    const bad = { ...await f64Frame([1, 0], 'bad'), shape: [3] };
    const ack = await store.put(bad);
    expect(ack.success).toBe(false);
    expect(ack.message).toMatch(/^TENSOR_SIZE_MISMATCH/);
    expect((await store.put({ ...await f64Frame([1], 'x'), spec: 'ltp/2.0' })).message).toMatch(/^UNSUPPORTED_VERSION/);
    expect(store.keys()).toEqual(['kept']);
  });
});

describe('MemoryStore Query (spec §7.2)', () => {
  it('k = 0 means 10, and at most k hits are returned', async () => {
    const store = await createMemoryStore();
    for (let i = 0; i < 15; i++) await store.put(await f64Frame([1, i / 100], `e${i}`));
    expect(await run(store, await queryOf([1, 0], 0))).toHaveLength(DEFAULT_QUERY_K);
    expect(await run(store, await queryOf([1, 0], 3))).toHaveLength(3);
    expect(await run(store, await queryOf([1, 0], 100))).toHaveLength(15);
  });

  it('min_sim is inclusive and is the float32 widened to float64', async () => {
    const store = await createMemoryStore();
    await store.put(await f64Frame([1, 1, 1, 1], 'half')); // cosine with [1,0,0,0] is exactly 0.5
    expect(keysOf(await run(store, await queryOf([1, 0, 0, 0], 1, 0.5)))).toEqual(['half']);
    expect(await run(store, await queryOf([1, 0, 0, 0], 1, 0.50000006))).toHaveLength(0); // next float32 above 0.5

    const a = 0.69999999; // between float32(0.7) = 0.699999988079071 and 0.7
    await store.put(await f64Frame([a, Math.sqrt(1 - a * a), 0, 0], 'near'));
    const hits = await run(store, await queryOf([1, 0, 0, 0], 10, 0.7));
    expect(keysOf(hits)).toEqual(['near']); // kept only because 0.7 arrives as 0.699999988079071
    expect(Number(hits[0]!.attributes['similarity'])).toBeLessThan(0.7);
  });

  it('orders by similarity descending, ties by older insertion first', async () => {
    const store = await createMemoryStore();
    await store.put(await f64Frame([1, 0], 'first'));
    await store.put(await f64Frame([1, 1], 'diag'));
    await store.put(await f64Frame([2, 0], 'second'));
    await store.put(await f64Frame([5, 0], 'third'));
    expect(keysOf(await run(store, await queryOf([1, 0])))).toEqual(['first', 'second', 'third', 'diag']);
    await store.put(await f64Frame([1, 0], 'first')); // a replace is a new insertion
    expect(keysOf(await run(store, await queryOf([1, 0])))).toEqual(['second', 'third', 'first', 'diag']);
  });

  it('returns the similarity as a shortest round-trip string on a fresh frame with the stored frame_id and timestamp', async () => {
    const store = await createMemoryStore();
    const angle = Math.PI / 8;
    await store.put(await f64Frame([Math.cos(angle), Math.sin(angle)], 'a', 'lidar'));
    const [hit] = await run(store, await queryOf([1, 0]));
    expect(hit!.attributes['similarity']).toBe(String(Math.cos(angle) / Math.hypot(Math.cos(angle), Math.sin(angle))));
    expect(Number(hit!.attributes['similarity'])).toBeCloseTo(0.9238795325112867, 15);
    expect(hit!.frameId).toBe('lidar');
    expect(hit!.timestampNs).toBe(1_700_000_000_000_000_000n);
    expect(hit!.spec).toBe('ltp/0.9');
    expect(hit!.header?.checksum).toHaveLength(4);
  });

  it('zero vectors stay zero: similarity 0, kept by min_sim 0, dropped above', async () => {
    const store = await createMemoryStore();
    await store.put(await f64Frame([0, 0, 0], 'zero'));
    await store.put(await f64Frame([0, -1, 0], 'opposite'));
    expect(simsOf(await run(store, await queryOf([0, 1, 0], 10, 0)))).toEqual(['0.0']);
    expect(await run(store, await queryOf([0, 1, 0], 10, 0.1))).toHaveLength(0);
    expect(simsOf(await run(store, await queryOf([0, 0, 0], 10, -1)))).toEqual(['0.0', '0.0']);
  });

  it('skips entries whose element count differs and flattens any dtype (2-D query against 1-D entries)', async () => {
    const store = await createMemoryStore();
    await store.put(await f64Frame([1, 0, 0], 'three'));
    await store.put(await f32Frame([1, 0, 0, 0], 'four'));
    expect(keysOf(await run(store, await queryOf([1, 0, 0, 0], 10, -1)))).toEqual(['four']);
    const matrix = { ...await f64Frame([1, 0, 0, 0]), shape: [2, 2] };
    expect(keysOf(await run(store, { queryEmbedding: matrix, k: 5, minSim: 0 }))).toEqual(['four']);
  });

  it('rejects a missing embedding and a non-finite min_sim with INVALID_QUERY', async () => {
    const store = await createMemoryStore();
    await expect(run(store, { queryEmbedding: undefined, k: 1, minSim: 0 })).rejects.toMatchObject({ code: 'INVALID_QUERY' });
    await expect(run(store, await queryOf([1], 1, Number.NaN))).rejects.toMatchObject({ code: 'INVALID_QUERY' });
  });
});

describe('LRU eviction', () => {
  it('evicts the least recently used entry; store and hits refresh recency', async () => {
    const store = await createMemoryStore({ maxSize: 3 });
    await store.put(await f64Frame([1, 0], 'a'));
    await store.put(await f64Frame([0, 1], 'b'));
    await store.put(await f64Frame([1, 1], 'c'));
    expect(store.keys()).toEqual(['a', 'b', 'c']);
    await run(store, await queryOf([1, 0], 1)); // 'a' is returned as a hit: most recent now
    expect(store.keys()).toEqual(['b', 'c', 'a']);
    await store.put(await f64Frame([2, 2], 'd'));
    expect(store.keys()).toEqual(['c', 'a', 'd']);
    await store.put(await f64Frame([3, 3], 'c')); // storing refreshes too
    await store.put(await f64Frame([4, 4], 'e'));
    expect(store.keys()).toEqual(['d', 'c', 'e']);
    expect(store.evictions).toBe(2);
    expect(keysOf(await run(store, await queryOf([1, 0], 10, -1))).sort()).toEqual(['c', 'd', 'e']);
  });

  it('keeps exact LRU order across thousands of hits, puts, replacements and evictions', async () => {
    const store = await createMemoryStore({ maxSize: 40 });
    const random = seededRandom(11);
    const model: string[] = [];
    const use = (key: string) => {
      const at = model.indexOf(key);
      if (at >= 0) model.splice(at, 1);
      model.push(key);
    };
    const put = async (key: string) => {
      await store.put(await f64Frame([random.float() - 0.5, random.float() - 0.5, random.float() - 0.5], key));
      use(key);
      if (model.length > 40) model.shift();
    };
    for (let i = 0; i < 40; i++) await put(`k${i}`);
    // 6000 searches of 3 hits each, puts that replace and evict in between, the order read back now and then
    for (let round = 0; round < 6000; round++) {
      const hits = store.searchVector([random.float() - 0.5, random.float() - 0.5, random.float() - 0.5], 3, -1);
      for (const hit of hits) use(hit.key);
      if (round % 97 === 0) await put(`k${random.int(60)}`); // new keys evict; known keys are replaced
      if (round % 1500 === 0) expect(store.keys()).toEqual(model);
    }
    expect(store.keys()).toEqual(model);
    expect(store.size).toBe(40);
  });

  it('defaults to 10000 entries', async () => {
    const store = await createMemoryStore();
    for (let i = 0; i < 10_001; i++) await store.put(await f64Frame([1, i], `k${i}`));
    expect(store.size).toBe(10_000);
    expect(store.get('k0')).toBeUndefined();
  });

  it('rejects a bad maxSize', () => {
    expect(codeOf(() => new MemoryStore({ maxSize: 0 }))).toBe('CONFIG_INVALID');
  });
});

describe('snapshot and restore', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('writes atomically and restores the same contents, recency and query results', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mep-snap-'));
    dirs.push(dir);
    const store = await createMemoryStore({ nodeId: 'n1' });
    for (let i = 0; i < 20; i++) await store.put(await f64Frame([Math.cos(i), Math.sin(i), i / 10], `k${i}`));
    await store.delete('k3');
    await run(store, await queryOf([1, 0, 0], 2));
    const path = join(dir, 'mep.snapshot');
    await writeSnapshotFile(path, (await store.snapshot()));
    await writeSnapshotFile(path, (await store.snapshot())); // replaces in place
    expect(await readdir(dir)).toEqual(['mep.snapshot']);

    const restored = await createMemoryStore({ nodeId: 'n1' });
    await restored.restore(await readSnapshotFile(path));
    expect(restored.keys()).toEqual(store.keys());
    expect(restored.get('k3')).toBeUndefined();
    expect(simsOf(await run(restored, await queryOf([0.3, 0.2, 0.1], 5)))).toEqual(simsOf(await run(store, await queryOf([0.3, 0.2, 0.1], 5))));
    // the restored node never reuses a dot of the snapshot it restored
    await restored.put(await f64Frame([1, 1, 1], 'new'));
    const dots = (await restored.snapshot()).entries.map((e) => `${e.dot!.nodeId}:${e.dot!.counter}`);
    expect(new Set(dots).size).toBe(dots.length);
  });

  it('reports unreadable and malformed files with typed errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mep-snap-'));
    dirs.push(dir);
    await expect(readSnapshotFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'IO_ERROR' });
    const store = await createMemoryStore();
    const snapshot = (await store.snapshot());
    const broken = { ...snapshot, entries: [{ key: 'x', tensor: undefined, dot: { nodeId: 'n', counter: 1n }, context: {}, hlc: undefined, tombstone: false }] };
    await expect(store.restore(broken)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(store.size).toBe(0);
  });
});

describe('exact search with the native scan and batched queries', () => {
  const DIM = 16;
  const ROWS = 2500; // above the size from which the native scan is used

  let built: Promise<{ native: MemoryStore; plain: MemoryStore; vectors: number[][] }> | undefined;
  // built once: every test applies the same operations to both stores, so their recency stays equal
  const twoStores = () => (built ??= buildStores());

  async function buildStores(): Promise<{ native: MemoryStore; plain: MemoryStore; vectors: number[][] }> {
    const random = seededRandom(11);
    const native = await createMemoryStore({ maxSize: ROWS });
    const plain = await createMemoryStore({ maxSize: ROWS, nativeScan: false });
    // clustered, with exact duplicates every 50 rows: ties that the float32 scan cannot order
    const vectors = Array.from({ length: ROWS }, (_, i) =>
      Array.from({ length: DIM }, (_, j) => (i % 50 === 0 ? (j === 0 ? 1 : 0) : random.float() - 0.5 + (i % 7 === j ? 2 : 0))),
    );
    for (const [i, v] of vectors.entries()) {
      const frame = await f64Frame(v, `k${i}`);
      await native.put(frame);
      await plain.put(frame);
    }
    return { native, plain, vectors };
  }

  it('answers like the pure-JS store, key for key and bit for bit, and refreshes recency in the same order', async () => {
    const { native, plain, vectors } = await twoStores();
    const random = seededRandom(12);
    const queries = [...vectors.slice(0, 8), Array.from({ length: DIM }, (_, j) => (j === 0 ? 3 : 0)), ...Array.from({ length: 8 }, () => Array.from({ length: DIM }, () => random.float() - 0.5))];
    expect(native.searchVectors(queries, 10, 0.1)).toEqual(queries.map((q) => plain.searchVector(q, 10, 0.1)));
    expect(native.keys()).toEqual(plain.keys());
  });

  it('batches concurrent Query calls into one pass and streams the same hits as one-by-one queries', async () => {
    const { native, plain, vectors } = await twoStores();
    // uncompressed query tensors decode without the thread pool, so all twelve are ready in the same loop turn
    const requests = await Promise.all(
      vectors.slice(0, 12).map(async (v, i) => ({
        queryEmbedding: await encodeTensorFrame(createTensor('f64', [DIM], Float64Array.from(v)), { codec: 'none' }),
        k: i % 3 === 0 ? 0 : 5,
        minSim: 0,
      })),
    );
    const passes = jest.spyOn(LocalMemory.prototype, 'searchMany');
    const concurrent = await Promise.all(requests.map((r) => run(native, r)));
    expect(passes).toHaveBeenCalledTimes(1);
    expect(passes.mock.calls[0]![0]).toHaveLength(12);
    passes.mockRestore();
    const sequential: LTP[][] = [];
    for (const r of requests) sequential.push(await run(plain, r));
    expect(concurrent.map(keysOf)).toEqual(sequential.map(keysOf));
    expect(concurrent.map(simsOf)).toEqual(sequential.map(simsOf));
    expect(concurrent[0]).toHaveLength(DEFAULT_QUERY_K);
  });
});
