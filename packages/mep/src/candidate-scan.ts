// SPDX-License-Identifier: Apache-2.0
// The SIMD candidate scan of exact search: a float32 brute-force pass (usearch's `exactSearch`, an optional native
// dependency) that only chooses WHICH rows get rescored; every similarity a query returns is still computed by the
// store's own float64 arithmetic. See `scanErrorBound` for why a float32 pass cannot lose a true top-k row.

/** The best `count` rows of a float32 matrix for each of several queries, by inner product. */
export interface CandidateScanner {
  readonly name: string;
  /**
   * Scans `rows` rows of `dim` elements of `matrix` (row-major) against each query in `queries` (row-major, a whole
   * multiple of `dim`). Returns, per query, `count` row numbers best first and their approximate similarities.
   */
  scan(matrix: Float32Array, rows: number, dim: number, queries: Float32Array, count: number): ScanResult;
}

/** Flat per-query blocks of `count` entries: query `q`'s candidates are at `q * count .. (q + 1) * count`. */
export interface ScanResult {
  readonly rows: ArrayLike<bigint | number>;
  readonly similarities: ArrayLike<number>;
}

/**
 * How far a float32 scan's similarity may be from the exact float64 one for unit vectors of `dim` elements.
 *
 * Rounding each element of both unit vectors to float32 changes each product by at most 2u|q_i e_i| (u = 2^-24), and
 * any float32 summation order, with or without FMA, adds at most n·u/(1 - n·u) · Σ|q_i e_i| (Higham, Accuracy and
 * Stability of Numerical Algorithms, §3.1); Σ|q_i e_i| <= |q||e| <= 1 by Cauchy-Schwarz. Returning the score as
 * `1 - dot` in float32 adds one more rounding (<= 2^-23 for values below 2), the float64 reference sum errs by about
 * n·2^-53, and underflow or flushed subnormals contribute below n·2^-126. `(dim + 8) · 2^-22` is over four times the
 * sum of all of these, and it stays small (about 1e-4 at 384 elements) next to typical gaps between neighbours.
 */
export function scanErrorBound(dim: number): number {
  return (dim + 8) * 2 ** -22;
}

interface UsearchModule {
  exactSearch(dataset: Float32Array, queries: Float32Array, dimensions: number, count: number, metric: 'ip', threads: number): {
    keys: BigUint64Array;
    distances: Float32Array;
  };
}

let loaded: Promise<CandidateScanner | undefined> | undefined;

/**
 * The usearch scanner, or undefined when usearch (an optional dependency) is not installed or its native binary
 * does not load here: exact search then stays on the pure-JS scan. Never throws.
 */
export function loadNativeScanner(): Promise<CandidateScanner | undefined> {
  loaded ??= import('usearch').then(
    (loadedModule: unknown) => {
      // typed loosely on purpose: usearch is optional, so its own typings may be absent
      const mod = loadedModule as Partial<UsearchModule> & { default?: Partial<UsearchModule> };
      const exactSearch = mod.exactSearch ?? mod.default?.exactSearch;
      return typeof exactSearch === 'function' ? usearchScanner(exactSearch) : undefined;
    },
    () => undefined,
  );
  return loaded;
}

function usearchScanner(exactSearch: UsearchModule['exactSearch']): CandidateScanner {
  return {
    name: 'usearch',
    scan(matrix, rows, dim, queries, count) {
      // the binding reads from the start of each ArrayBuffer, ignoring a view's byteOffset
      const data = matrix.byteOffset === 0 ? matrix.subarray(0, rows * dim) : matrix.slice(0, rows * dim);
      const q = queries.byteOffset === 0 && queries.byteLength === queries.buffer.byteLength ? queries : queries.slice();
      // one thread: the scan is memory-bound, and the caller's event loop is the unit of concurrency
      const { keys, distances } = exactSearch(data, q, dim, count, 'ip', 1);
      // usearch's inner-product distance is 1 - dot
      const similarities = new Float64Array(distances.length);
      for (let i = 0; i < distances.length; i++) similarities[i] = 1 - distances[i]!;
      return { rows: keys, similarities };
    },
  };
}
