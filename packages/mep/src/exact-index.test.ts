// SPDX-License-Identifier: Apache-2.0
// The native candidate scan must never change a result: every query is checked against the pure-JS scalar scan,
// bit for bit and in order, on random data, exact ties, near-ties below float32 resolution and thresholds.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import { loadNativeScanner, scanErrorBound, type CandidateScanner } from './candidate-scan';
import { ExactIndex, type SearchRequest } from './exact-index';
import { normaliseInPlace } from './vector-math';

const ROWS = 3000; // above the size from which the scanner is used
let scanner: CandidateScanner;
/** Native passes so far: the results below must come from the scanner, not only from the scalar fallback. */
let nativeScans = 0;

beforeAll(async () => {
  const loaded = await loadNativeScanner();
  // usearch is installed with the workspace: this suite must exercise the native path, not skip it
  expect(loaded).toBeDefined();
  scanner = {
    name: loaded!.name,
    scan: (...args) => {
      nativeScans++;
      return loaded!.scan(...args);
    },
  };
});

type Rng = ReturnType<typeof seededRandom>;

function unit(random: Rng, dim: number): Float64Array {
  return normaliseInPlace(Float64Array.from({ length: dim }, () => random.float() * 2 - 1));
}

/** The same rows in a native-scanned index and a scalar reference index. */
function pair(vectors: readonly Float64Array[], precision: 'float64' | 'float32' = 'float64', seqOf = (row: number) => row + 1) {
  const native = new ExactIndex<undefined>(precision);
  const reference = new ExactIndex<undefined>(precision);
  native.useScanner(scanner);
  vectors.forEach((v, i) => {
    native.add(i + 1, seqOf(i), v, undefined);
    reference.add(i + 1, seqOf(i), v, undefined);
  });
  return { native, reference };
}

function expectSame(native: ExactIndex<undefined>, reference: ExactIndex<undefined>, requests: SearchRequest[]): void {
  const batched = native.searchMany(requests);
  requests.forEach((r, i) => {
    const expected = reference.search(r.query, r.k, r.minSim);
    expect(native.search(r.query, r.k, r.minSim)).toEqual(expected);
    expect(batched[i]).toEqual(expected);
  });
}

describe('ExactIndex with the native candidate scan', () => {
  it("usearch's float32 similarities stay within scanErrorBound of the float64 ones", () => {
    const random = seededRandom(1);
    for (const dim of [3, 64, 384]) {
      const rows = Array.from({ length: 500 }, () => unit(random, dim));
      const query = unit(random, dim);
      const matrix = new Float32Array(rows.length * dim);
      rows.forEach((v, i) => matrix.set(v, i * dim));
      const { rows: found, similarities } = scanner.scan(matrix, rows.length, dim, Float32Array.from(query), rows.length);
      for (let i = 0; i < rows.length; i++) {
        const v = rows[Number(found[i])]!;
        let exact = 0;
        for (let j = 0; j < dim; j++) exact += query[j]! * v[j]!;
        expect(Math.abs(similarities[i]! - exact)).toBeLessThanOrEqual(scanErrorBound(dim));
      }
    }
  });

  it('returns exactly the scalar results on random data, one query or a batch, for float64 and float32 storage', () => {
    const random = seededRandom(2);
    const dim = 24;
    const vectors = Array.from({ length: ROWS }, () => unit(random, dim));
    for (const precision of ['float64', 'float32'] as const) {
      const { native, reference } = pair(vectors, precision);
      const requests = Array.from({ length: 40 }, (_, i) => ({ query: unit(random, dim), k: [1, 10, 50][i % 3]!, minSim: -Infinity }));
      const before = nativeScans;
      expectSame(native, reference, requests);
      // one batched pass plus one per single query, with no escalation needed on random data
      expect(nativeScans - before).toBe(41);
    }
  });

  it('keeps tie order (older first) when more rows tie than candidates are fetched', () => {
    const random = seededRandom(3);
    const dim = 16;
    const top = unit(random, dim);
    // 300 exact copies of the best vector among random rows: the float32 scan cannot tell them apart
    const vectors = Array.from({ length: ROWS }, (_, i) => (i % 10 === 3 ? Float64Array.from(top) : unit(random, dim)));
    // later rows are older, so row order (what a scan sees) and tie order disagree
    const { native, reference } = pair(vectors, 'float64', (row) => ROWS - row);
    expectSame(native, reference, [
      { query: Float64Array.from(top), k: 10, minSim: -Infinity },
      { query: Float64Array.from(top), k: 299, minSim: 0.5 },
    ]);
  });

  it('orders near-ties that differ only below float32 resolution by their float64 similarity', () => {
    const random = seededRandom(4);
    const dim = 32;
    const base = unit(random, dim);
    // 429 copies of one vector, each nudged by ~1e-10: identical in float32, distinct in float64
    const vectors = Array.from({ length: ROWS }, (_, i) => {
      if (i % 7 !== 0) return unit(random, dim);
      const v = Float64Array.from(base);
      v[i % dim]! += (random.float() - 0.5) * 1e-10;
      return normaliseInPlace(v);
    });
    const { native, reference } = pair(vectors);
    const query = normaliseInPlace(base.map((x) => x + 0.3 * (random.float() - 0.5)));
    const requests = [1, 10, 64].map((k) => ({ query, k, minSim: -Infinity }));
    expectSame(native, reference, requests);
    const top = reference.search(query, 10, -Infinity).map((r) => r.sim);
    expect(new Set(top).size).toBe(10);
    expect(new Set(top.map(Math.fround)).size).toBeLessThan(3);
  });

  it('applies min_sim inclusively, also when fewer than k rows qualify', () => {
    const random = seededRandom(5);
    const dim = 8;
    const vectors = Array.from({ length: ROWS }, () => unit(random, dim));
    const { native, reference } = pair(vectors);
    const query = unit(random, dim);
    const sims = reference.search(query, ROWS, -Infinity).map((r) => r.sim);
    // thresholds exactly at a row's similarity, just above it, and above every row
    const requests = [sims[3]!, sims[3]! + Number.EPSILON, sims[0]! + 1e-9, 0.9, -1].map((minSim) => ({ query, k: 10, minSim }));
    expectSame(native, reference, requests);
    expect(native.search(query, 10, sims[3]!)).toHaveLength(4);
  });

  it('stays in step with removals, replacements and growth', () => {
    const random = seededRandom(6);
    const dim = 12;
    const { native, reference } = pair([]);
    for (let step = 0; step < 4 * ROWS; step++) {
      const id = 1 + random.int(ROWS);
      if (random.float() < 0.2) {
        native.remove(id);
        reference.remove(id);
      } else {
        const v = unit(random, dim);
        native.add(id, step, v, undefined);
        reference.add(id, step, v, undefined);
      }
    }
    expect(native.size).toBeGreaterThan(2048);
    expectSame(native, reference, Array.from({ length: 10 }, () => ({ query: unit(random, dim), k: 10, minSim: -Infinity })));
  });

  it('answers a zero query (every similarity 0, all tied) like the scalar scan', () => {
    const random = seededRandom(7);
    const dim = 8;
    const { native, reference } = pair(Array.from({ length: ROWS }, () => unit(random, dim)));
    expectSame(native, reference, [{ query: new Float64Array(dim), k: 10, minSim: 0 }]);
  });
});

// rank() rescores an approximate index's candidates (rows resolved and prefetched first, then one dot product
// each): it must rank exactly as a full scan over an index holding only those candidates.
describe('ExactIndex.rank', () => {
  it('ranks candidates as the full scan of those rows does: bits, ties, min_sim, absent and removed ids', () => {
    const random = seededRandom(11);
    for (const precision of ['float64', 'float32'] as const) {
      for (const dim of [13, 384]) {
        const index = new ExactIndex<undefined>(precision);
        const top = unit(random, dim);
        // every fifth row ties with the others of its kind; seqs are not in id order so ties test seq, not id
        const rows = Array.from({ length: 400 }, (_, i) => (i % 5 === 0 ? Float64Array.from(top) : unit(random, dim)));
        const seqOf = (i: number) => 1000 - i;
        rows.forEach((v, i) => index.add(i + 1, seqOf(i), v, undefined));
        for (let id = 2; id <= 400; id += 9) index.remove(id);
        for (let round = 0; round < 6; round++) {
          // candidate lists of growing length (the reused row buffer grows), with ids never stored or removed
          const ids = Array.from({ length: 4 + round * 40 }, () => 1 + random.int(420));
          const unique = [...new Set(ids)];
          const only = new ExactIndex<undefined>(precision);
          for (const id of unique) if (id <= 400 && (id - 2) % 9 !== 0) only.add(id, seqOf(id - 1), rows[id - 1]!, undefined);
          const query = round % 3 === 0 ? Float64Array.from(top) : unit(random, dim);
          for (const [k, minSim] of [[10, -Infinity], [3, 0], [50, 0.1]] as const) {
            // toEqual compares numbers with Object.is: similarities bit for bit
            expect(index.rank(query, unique, k, minSim)).toEqual(only.search(query, k, minSim));
          }
        }
      }
    }
  });
});
