// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import { createTensor, encodeTensorFrame } from '@ecps/ltp';
import { createMemoryStore } from '@ecps/mep';
import type { LTP } from '@ecps/proto';
import { hnswAvailable, hnswIndex } from './hnsw-index';

const available = await hnswAvailable();
const DIM = 32;

function randomVectors(n: number, seed: number): Float32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, () => random.float() * 2 - 1));
}

const frame = (v: Float32Array, key?: string): Promise<LTP> =>
  encodeTensorFrame(createTensor('f32', [DIM], v), { frameId: 'emb', timestampNs: 1n, attributes: key ? { mep_id: key } : {} });

describe('hnswIndex', () => {
  (available ? it : it.skip)('gives high recall@10 and exactly rescored, spec-ordered hits', async () => {
    const approx = await createMemoryStore({ approximate: await hnswIndex({ m: 12, efConstruction: 100, efSearch: 64 }) });
    const exact = await createMemoryStore();
    const vectors = randomVectors(2000, 7);
    for (const [i, v] of vectors.entries()) {
      await approx.put(await frame(v, `k${i}`));
      await exact.put(await frame(v, `k${i}`));
    }
    const { recall, queries } = approx.measureRecall({ k: 10, samples: 100 });
    expect(queries).toBe(100);
    expect(recall).toBeGreaterThan(0.9);
    expect(exact.measureRecall().recall).toBe(1);
    const q = randomVectors(1, 99)[0]!;
    const a = approx.searchVector(q, 5, 0);
    const e = exact.searchVector(q, 5, 0);
    expect(a[0]).toEqual(e[0]); // same key, bit-identical similarity: candidates are rescored exactly
    for (let i = 1; i < a.length; i++) expect(a[i - 1]!.similarity).toBeGreaterThanOrEqual(a[i]!.similarity);
    expect(a.every((h) => h.similarity >= 0)).toBe(true);
  });

  (available ? it : it.skip)('answers with exact similarities, the threshold and the tie order of exact search (property)', async () => {
    const random = seededRandom(21);
    for (let trial = 0; trial < 3; trial++) {
      const approx = await createMemoryStore({ maxSize: 300, approximate: await hnswIndex({ m: 8, efConstruction: 40, efSearch: 16 }) });
      const exact = await createMemoryStore({ maxSize: 300 });
      const vectors = randomVectors(400, 100 + trial);
      for (let i = 0; i < vectors.length; i++) {
        // every fifth put repeats an earlier vector under a new key (exact ties), every seventh replaces a key
        const v = i % 5 === 4 ? vectors[random.int(i)]! : vectors[i]!;
        const key = i % 7 === 6 ? `k${random.int(i)}` : `k${i}`;
        await approx.put(await frame(v, key));
        await exact.put(await frame(v, key));
      }
      for (let q = 0; q < 40; q++) {
        const query = q % 4 === 0 ? vectors[random.int(vectors.length)]! : randomVectors(1, 1000 * trial + q)[0]!;
        const k = 1 + random.int(12);
        const minSim = q % 3 === 0 ? Math.fround(random.float() * 0.4) : -1;
        const all = new Map(exact.searchVector(query, 300, -1).map((h, rank) => [h.key, { similarity: h.similarity, rank }]));
        const hits = approx.searchVector(query, k, minSim);
        expect(hits.length).toBeLessThanOrEqual(k);
        for (const [i, hit] of hits.entries()) {
          const truth = all.get(hit.key)!;
          expect(Object.is(hit.similarity, truth.similarity)).toBe(true); // bit-identical to exact search
          expect(hit.similarity).toBeGreaterThanOrEqual(minSim);
          // exact search's order among the returned hits: similarity descending, ties by older insertion
          if (i > 0) expect(all.get(hits[i - 1]!.key)!.rank).toBeLessThan(truth.rank);
        }
      }
    }
  });

  (available ? it : it.skip)('forgets evicted and replaced entries', async () => {
    const store = await createMemoryStore({ maxSize: 50, approximate: await hnswIndex({ m: 8, efConstruction: 50 }) });
    const vectors = randomVectors(200, 3);
    for (const [i, v] of vectors.entries()) await store.put(await frame(v, `k${i % 120}`));
    expect(store.size).toBe(50);
    const live = new Set(store.keys());
    for (const v of randomVectors(20, 5)) for (const hit of store.searchVector(v, 10, -1)) expect(live.has(hit.key)).toBe(true);
    expect(store.searchVector(vectors[199]!, 1, -1)[0]!.key).toBe('k79');
  });

  it('rejects bad parameters, or reports a missing hnswlib-node as UNSUPPORTED', async () => {
    if (available) await expect(hnswIndex({ m: 1 })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    else await expect(hnswIndex()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });
});
