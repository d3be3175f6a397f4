// SPDX-License-Identifier: Apache-2.0
// Exact cosine search: normalised vectors live in one contiguous typed-array matrix per dimension, rows kept
// dense by swap-remove, so a query is a single tight scan with no per-entry objects.
import { TopK, type Ranked } from './top-k';

/** Storage precision of the exact matrix. `float64` reproduces the spec's arithmetic exactly; `float32` halves memory. */
export type VectorPrecision = 'float64' | 'float32';

interface Group {
  readonly dim: number;
  data: Float64Array | Float32Array;
  ids: Float64Array;
  seqs: Float64Array;
  size: number;
  readonly rowOf: Map<number, number>;
}

/** All stored vectors, grouped by element count (entries of another size are never compared, spec §7.2). */
export class ExactIndex {
  private readonly groups = new Map<number, Group>();
  private readonly dimOf = new Map<number, number>();
  /** Reused per query: the similarity of every row of the searched group. */
  private scores = new Float64Array(0);

  constructor(private readonly precision: VectorPrecision = 'float64') {}

  get size(): number {
    return this.dimOf.size;
  }

  /** Adds (or replaces) the normalised vector of `id`; `seq` orders ties (smaller = older). */
  add(id: number, seq: number, vector: Float64Array): void {
    this.remove(id);
    const dim = vector.length;
    let group = this.groups.get(dim);
    if (!group) {
      group = this.newGroup(dim, 16);
      this.groups.set(dim, group);
    }
    if (group.size === group.ids.length) this.grow(group);
    const row = group.size++;
    group.data.set(vector, row * dim);
    group.ids[row] = id;
    group.seqs[row] = seq;
    group.rowOf.set(id, row);
    this.dimOf.set(id, dim);
  }

  remove(id: number): boolean {
    const dim = this.dimOf.get(id);
    if (dim === undefined) return false;
    const group = this.groups.get(dim)!;
    const row = group.rowOf.get(id)!;
    const last = --group.size;
    if (row !== last) {
      group.data.copyWithin(row * dim, last * dim, (last + 1) * dim);
      const movedId = group.ids[last]!;
      group.ids[row] = movedId;
      group.seqs[row] = group.seqs[last]!;
      group.rowOf.set(movedId, row);
    }
    group.rowOf.delete(id);
    this.dimOf.delete(id);
    if (group.size === 0) this.groups.delete(dim);
    return true;
  }

  /** Cosine similarity of the normalised `query` with stored `id` (undefined when absent or of another size). */
  similarity(id: number, query: Float64Array): number | undefined {
    const group = this.groups.get(query.length);
    const row = group?.rowOf.get(id);
    if (group === undefined || row === undefined) return undefined;
    return dotRow(query, group.data, row * group.dim, group.dim);
  }

  /** The best `k` rows with `sim >= minSim`, similarity descending, ties by older insertion. */
  search(query: Float64Array, k: number, minSim: number): Ranked[] {
    const group = this.groups.get(query.length);
    if (!group || k === 0) return [];
    const { dim, data, ids, seqs, size } = group;
    // never more slots than rows: k is the requester's number
    const top = new TopK(Math.min(k, size));
    if (this.scores.length < size) this.scores = new Float64Array(Math.max(size, this.scores.length * 2));
    const scores = this.scores;
    for (let row = 0, base = 0; row < size; row++, base += dim) scores[row] = dotRow(query, data, base, dim);
    for (let row = 0; row < size; row++) {
      const sim = scores[row]!;
      if (sim >= minSim && top.accepts(sim, seqs[row]!)) top.push(sim, seqs[row]!, ids[row]!);
    }
    return top.results();
  }

  /** A copy of the stored normalised vector of `id`. */
  vector(id: number): Float64Array | undefined {
    const dim = this.dimOf.get(id);
    if (dim === undefined) return undefined;
    const group = this.groups.get(dim)!;
    const row = group.rowOf.get(id)!;
    return Float64Array.from(group.data.subarray(row * dim, (row + 1) * dim));
  }

  clear(): void {
    this.groups.clear();
    this.dimOf.clear();
  }

  private newGroup(dim: number, capacity: number): Group {
    const data = this.precision === 'float64' ? new Float64Array(capacity * dim) : new Float32Array(capacity * dim);
    return { dim, data, ids: new Float64Array(capacity), seqs: new Float64Array(capacity), size: 0, rowOf: new Map() };
  }

  private grow(group: Group): void {
    const capacity = group.ids.length * 2;
    const next = this.newGroup(group.dim, capacity);
    next.data.set(group.data.subarray(0, group.size * group.dim));
    next.ids.set(group.ids.subarray(0, group.size));
    next.seqs.set(group.seqs.subarray(0, group.size));
    group.data = next.data;
    group.ids = next.ids;
    group.seqs = next.seqs;
  }
}

/**
 * dot(query, data[base .. base+dim]) with four independent accumulators (about 1.5x faster in V8 than one).
 * Every similarity, in search and in rescoring, goes through here, so equal inputs always give equal bits.
 */
function dotRow(query: Float64Array, data: Float64Array | Float32Array, base: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (const end = dim - (dim % 4); j < end; j += 4) {
    s0 += query[j]! * data[base + j]!;
    s1 += query[j + 1]! * data[base + j + 1]!;
    s2 += query[j + 2]! * data[base + j + 2]!;
    s3 += query[j + 3]! * data[base + j + 3]!;
  }
  for (; j < dim; j++) s0 += query[j]! * data[base + j]!;
  return s0 + s1 + (s2 + s3);
}
