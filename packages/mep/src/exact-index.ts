// SPDX-License-Identifier: Apache-2.0
// Exact cosine search: normalised vectors live in one contiguous typed-array matrix per dimension, rows kept
// dense by swap-remove, so a query is a single tight scan with no per-entry objects. With a native scanner, large
// groups also keep a float32 copy that a SIMD pass narrows to a few candidates, which are then rescored exactly.
import { scanErrorBound, type CandidateScanner, type ScanResult } from './candidate-scan';
import { TopK, type Ranked } from './top-k';

/** Storage precision of the exact matrix. `float64` reproduces the spec's arithmetic exactly; `float32` halves memory. */
export type VectorPrecision = 'float64' | 'float32';

interface Group<T> {
  readonly dim: number;
  data: Float64Array | Float32Array;
  /** What the scanner reads: `data` itself at float32 precision, else a float32 copy (only while a scanner is set). */
  scanned: Float32Array | undefined;
  ids: Float64Array;
  seqs: Float64Array;
  /** What the caller stored with each row, returned with its hits (no lookup by id per hit). */
  readonly values: T[];
  size: number;
  readonly rowOf: Map<number, number>;
}

/** One query: a normalised vector, how many hits at most (> 0 to get any), and the inclusive threshold. */
export interface SearchRequest {
  query: Float64Array;
  k: number;
  minSim: number;
}

/**
 * All stored vectors, grouped by element count (entries of another size are never compared, spec §7.2), each with a
 * value of the caller's that hits carry.
 */
export class ExactIndex<T> {
  private readonly groups = new Map<number, Group<T>>();
  private readonly dimOf = new Map<number, number>();
  /** Reused per query: the similarity of every row of the searched group. */
  private scores = new Float64Array(0);
  /** Reused per rescoring: the rows of the candidates found. */
  private rows = new Int32Array(0);
  private scanner: CandidateScanner | undefined;

  constructor(private readonly precision: VectorPrecision = 'float64') {}

  /** Accelerates large groups with `scanner` (results are unchanged); undefined returns to the pure-JS scan. */
  useScanner(scanner: CandidateScanner | undefined): void {
    this.scanner = scanner;
    for (const group of this.groups.values()) group.scanned = this.scannedCopy(group.data);
  }

  get size(): number {
    return this.dimOf.size;
  }

  /** Adds (or replaces) the normalised vector of `id`; `seq` orders ties (smaller = older). */
  add(id: number, seq: number, vector: Float64Array, value: T): void {
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
    if (group.scanned !== group.data) group.scanned?.set(vector, row * dim);
    group.ids[row] = id;
    group.seqs[row] = seq;
    group.values[row] = value;
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
      if (group.scanned !== group.data) group.scanned?.copyWithin(row * dim, last * dim, (last + 1) * dim);
      const movedId = group.ids[last]!;
      group.ids[row] = movedId;
      group.seqs[row] = group.seqs[last]!;
      group.values[row] = group.values[last]!;
      group.rowOf.set(movedId, row);
    }
    group.values.pop();
    group.rowOf.delete(id);
    this.dimOf.delete(id);
    if (group.size === 0) this.groups.delete(dim);
    return true;
  }

  /** The best `k` of the stored `ids` (others and absent ones skipped) with `sim >= minSim`, ranked as {@link search}. */
  rank(query: Float64Array, ids: readonly number[], k: number, minSim: number): Ranked<T>[] {
    const group = this.groups.get(query.length);
    if (!group || k === 0) return [];
    const { dim, data, seqs, rowOf, ids: rowIds } = group;
    if (this.rows.length < ids.length) this.rows = new Int32Array(Math.max(ids.length, this.rows.length * 2));
    const rows = this.rows;
    let n = 0;
    for (const id of ids) {
      const row = rowOf.get(id);
      if (row !== undefined) rows[n++] = row;
    }
    prefetchRows(data, rows, n, dim);
    const top = new TopK(Math.min(k, group.size));
    for (let c = 0; c < n; c++) {
      const row = rows[c]!;
      const sim = dotRow(query, data, row * dim, dim);
      if (sim >= minSim) top.push(sim, seqs[row]!, row);
    }
    return top.results(rowIds, group.values);
  }

  /** The best `k` rows with `sim >= minSim`, similarity descending, ties by older insertion. */
  search(query: Float64Array, k: number, minSim: number): Ranked<T>[] {
    return this.searchMany([{ query, k, minSim }])[0]!;
  }

  /**
   * {@link search} for several queries at once: with a scanner, queries of one size share each pass over the
   * float32 matrix (up to a bounded batch), which is where batching pays.
   */
  searchMany(requests: readonly SearchRequest[]): Ranked<T>[][] {
    const results: Ranked<T>[][] = requests.map(() => []);
    const byDim = new Map<number, number[]>();
    for (const [i, { query, k }] of requests.entries()) {
      if (k === 0) continue;
      const same = byDim.get(query.length);
      if (same) same.push(i);
      else byDim.set(query.length, [i]);
    }
    for (const [dim, members] of byDim) {
      const group = this.groups.get(dim);
      if (!group) continue;
      const count = candidateCount(members.reduce((most, i) => Math.max(most, requests[i]!.k), 0), group.size);
      if (!this.scanner || !group.scanned || group.size < MIN_SCANNED_ROWS || count === undefined) {
        for (const i of members) results[i] = this.fullScan(group, requests[i]!);
        continue;
      }
      const batch = Math.max(1, Math.floor(MAX_SCAN_TASKS / group.size));
      for (let from = 0; from < members.length; from += batch) {
        const part = members.slice(from, from + batch);
        const scan = this.scan(group, part.map((i) => requests[i]!.query), count);
        for (const [j, i] of part.entries()) {
          const request = requests[i]!;
          results[i] = this.rescore(group, request, scan, j * count, count) ?? this.escalate(group, request, count * 4);
        }
      }
    }
    return results;
  }

  /** The scalar reference: every row's similarity, then the best `k`. */
  private fullScan(group: Group<T>, { query, k, minSim }: SearchRequest): Ranked<T>[] {
    const { dim, data, ids, seqs, size } = group;
    // never more slots than rows: k is the requester's number
    const top = new TopK(Math.min(k, size));
    if (this.scores.length < size) this.scores = new Float64Array(Math.max(size, this.scores.length * 2));
    const scores = this.scores;
    for (let row = 0, base = 0; row < size; row++, base += dim) scores[row] = dotRow(query, data, base, dim);
    for (let row = 0; row < size; row++) {
      const sim = scores[row]!;
      if (sim >= minSim && top.accepts(sim, seqs[row]!)) top.push(sim, seqs[row]!, row);
    }
    return top.results(ids, group.values);
  }

  private scan(group: Group<T>, queries: readonly Float64Array[], count: number): ScanResult {
    const { dim } = group;
    const q32 = new Float32Array(queries.length * dim);
    for (const [j, q] of queries.entries()) q32.set(q, j * dim);
    return this.scanner!.scan(group.scanned!, group.size, dim, q32, count);
  }

  /**
   * Rescores one query's `count` candidates exactly. Returns undefined when the candidates do not provably
   * contain the answer: every row left out scored at most `floor` in float32, so its exact similarity is at most
   * `floor + bound`; when that is below both the k-th exact similarity found (or below `minSim` while fewer than k
   * qualify), no row left out can rank or tie with the answer.
   */
  private rescore(group: Group<T>, { query, k, minSim }: SearchRequest, scan: ScanResult, offset: number, count: number): Ranked<T>[] | undefined {
    const { dim, data, ids, seqs, size } = group;
    const top = new TopK(Math.min(k, size));
    let floor = Infinity;
    for (let c = offset; c < offset + count; c++) {
      const row = Number(scan.rows[c]!);
      floor = Math.min(floor, scan.similarities[c]!);
      const sim = dotRow(query, data, row * dim, dim);
      if (sim >= minSim) top.push(sim, seqs[row]!, row);
    }
    if (count < size && !(floor + scanErrorBound(dim) < (top.count === top.k ? top.worstSim : minSim))) return undefined;
    return top.results(ids, group.values);
  }

  /** One query whose batched candidates were not enough: larger candidate sets, then the full scan. */
  private escalate(group: Group<T>, request: SearchRequest, count: number): Ranked<T>[] {
    for (; count * 2 <= group.size; count *= 4) {
      const ranked = this.rescore(group, request, this.scan(group, [request.query], count), 0, count);
      if (ranked) return ranked;
    }
    return this.fullScan(group, request);
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

  private newGroup(dim: number, capacity: number): Group<T> {
    const data = this.precision === 'float64' ? new Float64Array(capacity * dim) : new Float32Array(capacity * dim);
    return { dim, data, scanned: this.scannedCopy(data), ids: new Float64Array(capacity), seqs: new Float64Array(capacity), values: [], size: 0, rowOf: new Map() };
  }

  /** The float32 matrix a scanner reads for `data` (a copy only when `data` is float64), or none without a scanner. */
  private scannedCopy(data: Float64Array | Float32Array): Float32Array | undefined {
    if (!this.scanner) return undefined;
    return data instanceof Float32Array ? data : new Float32Array(data);
  }

  private grow(group: Group<T>): void {
    const capacity = group.ids.length * 2;
    const next = this.newGroup(group.dim, capacity);
    next.data.set(group.data.subarray(0, group.size * group.dim));
    if (next.scanned !== next.data) next.scanned?.set(group.data.subarray(0, group.size * group.dim));
    next.ids.set(group.ids.subarray(0, group.size));
    next.seqs.set(group.seqs.subarray(0, group.size));
    group.data = next.data;
    group.scanned = next.scanned;
    group.ids = next.ids;
    group.seqs = next.seqs;
  }
}

/** Below this many rows the pure-JS scan is as fast as a native call and its candidate bookkeeping. */
const MIN_SCANNED_ROWS = 2048;
/** Rows × queries per native pass: bounds the scanner's scratch memory (usearch keeps 16 bytes per pair). */
const MAX_SCAN_TASKS = 4_000_000;

/** Candidates fetched per query: k plus a margin; undefined when that is half the group or more (scan it all). */
function candidateCount(k: number, size: number): number | undefined {
  const count = 2 * k + 32;
  return count * 2 <= size ? count : undefined;
}

/** Written so the optimiser keeps {@link prefetchRows}' loads. */
let _prefetched = 0;

/**
 * Reads one element per cache line of each of the first `n` rows, line by line across all rows, before they are
 * rescored. The rows are cold (random rows of a large matrix, read right after a graph search has streamed
 * megabytes through the caches); loads with no dependency between them let the CPU have many misses in flight at
 * once, where the dot products alone would wait for each row's first misses in turn.
 */
function prefetchRows(data: Float64Array | Float32Array, rows: Int32Array, n: number, dim: number): void {
  const step = 64 / data.BYTES_PER_ELEMENT;
  let sum = 0;
  for (let offset = 0; offset < dim; offset += step) for (let c = 0; c < n; c++) sum += data[rows[c]! * dim + offset]!;
  _prefetched = sum;
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
