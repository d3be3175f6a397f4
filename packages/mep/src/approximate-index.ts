// SPDX-License-Identifier: Apache-2.0
// The contract an approximate nearest-neighbour index fulfils to accelerate a store (e.g. HNSW in @ecps/mep-hnsw).
// The store keeps the exact matrix as the source of truth and rescores candidates exactly, so an approximate index
// only changes WHICH entries are considered, never the similarity values, the threshold or the order.

/** One approximate index over normalised vectors of a single dimension. */
export interface ApproximateIndex {
  add(id: number, vector: Float64Array): void;
  remove(id: number): void;
  /** Up to `count` candidate ids, best first (by the index's own notion of nearness). */
  search(query: Float64Array, count: number): number[];
  /** Frees native resources. */
  dispose?(): void;
}

/** Creates the index for vectors of `dimension` elements; `capacity` is the store's `maxSize`. */
export interface ApproximateIndexFactory {
  readonly name: string;
  create(dimension: number, capacity: number): ApproximateIndex;
}

/** Mean fraction of each exact top-k list that the approximate list also contains (recall@k). */
export function recallAtK(exact: readonly (readonly number[])[], approximate: readonly (readonly number[])[]): number {
  if (exact.length === 0) return 1;
  let total = 0;
  for (let i = 0; i < exact.length; i++) {
    const truth = exact[i]!;
    if (truth.length === 0) {
      total += 1;
      continue;
    }
    const found = new Set(approximate[i] ?? []);
    let hit = 0;
    for (const id of truth) if (found.has(id)) hit++;
    total += hit / truth.length;
  }
  return total / exact.length;
}
