// SPDX-License-Identifier: Apache-2.0
// The state of one MEP replica: entries in LRU order, tombstones, the exact matrix (and an optional approximate
// index), the causal context and the hybrid clock. Synchronous and transport-free; replication drives it.
import type { Clock } from '@ecps/core';
import type { ApproximateIndex, ApproximateIndexFactory } from './approximate-index';
import type { CandidateScanner } from './candidate-scan';
import { recallAtK } from './approximate-index';
import { CausalContext, HybridLogicalClock, wins, type DotValue, type HlcValue } from './causality';
import { ExactIndex, type SearchRequest, type VectorPrecision } from './exact-index';
import { itemSize, type RawTensor } from './ltp-frame';
import { RecencyList, type RecencyNode } from './recency-list';
import { flattenToFloat64, normaliseInPlace } from './vector-math';

/** One version of a key as a replica holds it. `tensor` is absent on tombstones. */
export interface StoredEntry {
  readonly key: string;
  readonly id: number;
  readonly seq: number;
  readonly tensor: RawTensor | undefined;
  readonly frameId: string;
  readonly timestampNs: bigint;
  readonly dot: DotValue;
  readonly context: Readonly<Record<string, bigint>>;
  readonly hlc: HlcValue;
}

/** A version arriving from elsewhere (a peer, a snapshot). */
export type IncomingEntry = Omit<StoredEntry, 'id' | 'seq'>;

/** The causal context of a version written over `previous`: everything `previous` had seen, and `previous` itself. */
function contextAfter(previous: StoredEntry | undefined): Record<string, bigint> {
  const context: Record<string, bigint> = { ...previous?.context };
  if (previous && (context[previous.dot.nodeId] ?? 0n) < previous.dot.counter) context[previous.dot.nodeId] = previous.dot.counter;
  return context;
}

export interface SearchHit {
  readonly entry: StoredEntry;
  readonly similarity: number;
}

export interface LocalMemoryOptions {
  nodeId: string;
  /**
   * Writer id of this incarnation's dots. It differs on every start, so a replica that restarts without its state
   * never reuses a dot (which peers would take for a version they already hold).
   */
  actor: string;
  maxSize: number;
  precision: VectorPrecision;
  approximate: ApproximateIndexFactory | undefined;
  candidateFactor: number;
  clock: Clock;
}

export class LocalMemory {
  /** Live entries by key. */
  private readonly live = new Map<string, StoredEntry>();
  /** Live entries in recency order (LRU first): a hit's refresh is a few pointer writes, see RecencyList. */
  private readonly recency = new RecencyList<StoredEntry>();
  private readonly tombstones = new Map<string, StoredEntry>();
  /** Each live entry's place in `recency`, by id. */
  private readonly byId = new Map<number, RecencyNode<StoredEntry>>();
  private readonly exact: ExactIndex<RecencyNode<StoredEntry>>;
  private readonly approx = new Map<number, ApproximateIndex>();
  readonly context = new CausalContext();
  readonly hlc: HybridLogicalClock;
  private nextId = 1;
  private nextSeq = 1;
  evictions = 0;

  constructor(private readonly options: LocalMemoryOptions) {
    this.exact = new ExactIndex(options.precision);
    this.hlc = new HybridLogicalClock(options.clock);
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  get actor(): string {
    return this.options.actor;
  }

  get size(): number {
    return this.live.size;
  }

  /** Live keys, least recently used first. */
  keys(): string[] {
    return Array.from(this.recency.values(), (e) => e.key);
  }

  get(key: string): StoredEntry | undefined {
    return this.live.get(key);
  }

  /** The current version of `key`, tombstone included. */
  current(key: string): StoredEntry | undefined {
    return this.live.get(key) ?? this.tombstones.get(key);
  }

  /** A local write (tensor) or delete (undefined): new dot, the key's causal history as context, a fresh HLC. */
  write(key: string, tensor: RawTensor | undefined, frameId: string, timestampNs: bigint): { entry: StoredEntry; previous: StoredEntry | undefined } {
    const previous = this.current(key);
    const dot = this.nextDot();
    const entry = this.install({ key, tensor, frameId, timestampNs, dot, context: contextAfter(previous), hlc: this.hlc.tick() });
    return { entry, previous };
  }

  /**
   * Undoes `written` (a local write whose quorum failed) with a new version that restores `previous` (or deletes
   * the key). It supersedes `written` and sits right after it in the winner order, so every replica converges to
   * it whether it sees the write, the undo, or both in any order. Returns undefined when `written` is no longer
   * current: whatever replaced it already wins over it everywhere.
   */
  undo(written: StoredEntry, previous: StoredEntry | undefined): StoredEntry | undefined {
    const current = this.current(written.key);
    if (!current || current.dot.nodeId !== written.dot.nodeId || current.dot.counter !== written.dot.counter) return undefined;
    const hlc = { wallNs: written.hlc.wallNs, logical: written.hlc.logical + 1 };
    this.hlc.observe(hlc);
    return this.install({
      key: written.key,
      tensor: previous?.tensor,
      frameId: previous?.frameId ?? '',
      timestampNs: previous?.timestampNs ?? 0n,
      dot: this.nextDot(),
      context: contextAfter(written),
      hlc,
    });
  }

  /** Merges a version by the §7.3 rule; true when it won and is now the key's version. */
  merge(incoming: IncomingEntry): boolean {
    this.hlc.observe(incoming.hlc);
    this.context.add(incoming.dot);
    const current = this.current(incoming.key);
    if (current && !wins(incoming, current)) return false;
    this.install(incoming);
    return true;
  }

  /** Every version not covered by a peer's compacted context (tombstones included), oldest use first. */
  entriesNotCoveredBy(summary: Readonly<Record<string, bigint>>): StoredEntry[] {
    const out: StoredEntry[] = [];
    for (const entry of this.all()) if (entry.dot.counter > (summary[entry.dot.nodeId] ?? 0n)) out.push(entry);
    return out;
  }

  /** Tombstones, then live entries least recently used first (so a restore keeps the recency order). */
  *all(): IterableIterator<StoredEntry> {
    yield* this.tombstones.values();
    yield* this.recency.values();
  }

  /**
   * For each flat query vector (normalised in place), the best `k` live entries with `sim >= minSim`, refreshing
   * each hit's recency: exact over the whole matrix, or exact rescoring of the approximate index's candidates.
   * Answered as if one after the other: ranking never depends on recency, which is refreshed in query order.
   */
  searchMany(requests: readonly SearchRequest[]): SearchHit[][] {
    for (const r of requests) normaliseInPlace(r.query);
    const ranked = this.options.approximate
      ? requests.map((r) => this.rankApproximate(r.query, r.k, r.minSim))
      : this.exact.searchMany(requests);
    return ranked.map((list) => {
      this.recency.touchAll(list, (r) => r.value);
      return list.map((r) => ({ entry: r.value.value, similarity: r.sim }));
    });
  }

  /** Accelerates exact search with a native candidate scanner (same results), or returns to pure JS. */
  useScanner(scanner: CandidateScanner | undefined): void {
    // an approximate index already narrows the candidates; a second float32 matrix would only cost memory
    if (!this.options.approximate) this.exact.useScanner(scanner);
  }

  /**
   * recall@k of the approximate index against exact search, using up to `samples` stored vectors (spread evenly
   * over the store) as queries. 1 when the store has no approximate index.
   */
  measureRecall(k: number, samples: number): { recall: number; queries: number } {
    const ids = Array.from(this.recency.values(), (e) => e.id);
    const step = Math.max(1, Math.floor(ids.length / Math.max(1, samples)));
    const truth: number[][] = [];
    const found: number[][] = [];
    for (let i = 0; i < ids.length && truth.length < samples; i += step) {
      const q = this.exact.vector(ids[i]!)!;
      truth.push(this.exact.search(q, k, -Infinity).map((r) => r.id));
      found.push(this.options.approximate ? this.rankApproximate(q, k, -Infinity).map((r) => r.id) : truth.at(-1)!);
    }
    return { recall: recallAtK(truth, found), queries: truth.length };
  }

  clear(): void {
    for (const index of this.approx.values()) index.dispose?.();
    this.approx.clear();
  }

  private nextDot(): DotValue {
    const dot = { nodeId: this.actor, counter: this.context.max(this.actor) + 1n };
    this.context.add(dot);
    return dot;
  }

  private rankApproximate(q: Float64Array, k: number, minSim: number) {
    const index = this.approx.get(q.length);
    if (!index || k === 0) return [];
    return this.exact.rank(q, index.search(q, Math.max(k, Math.ceil(k * this.options.candidateFactor))), k, minSim);
  }

  private install(version: IncomingEntry): StoredEntry {
    const existing = this.current(version.key);
    if (existing) this.uninstall(existing);
    const entry: StoredEntry = { ...version, id: this.nextId++, seq: this.nextSeq++ };
    if (!entry.tensor) {
      this.tombstones.set(entry.key, entry);
      return entry;
    }
    this.live.set(entry.key, entry);
    const node = this.recency.add(entry);
    this.byId.set(entry.id, node);
    const vector = normaliseInPlace(flattenToFloat64(entry.tensor));
    this.exact.add(entry.id, entry.seq, vector, node);
    if (this.options.approximate) {
      let index = this.approx.get(vector.length);
      if (!index) this.approx.set(vector.length, (index = this.options.approximate.create(vector.length, this.options.maxSize)));
      index.add(entry.id, vector);
    }
    while (this.live.size > this.options.maxSize) {
      this.uninstall(this.recency.oldest!);
      this.evictions++;
    }
    return entry;
  }

  private uninstall(entry: StoredEntry): void {
    if (!entry.tensor) {
      this.tombstones.delete(entry.key);
      return;
    }
    this.live.delete(entry.key);
    this.recency.remove(this.byId.get(entry.id)!);
    this.byId.delete(entry.id);
    this.exact.remove(entry.id);
    this.approx.get(entry.tensor.bytes.length / itemSize(entry.tensor.dtype))?.remove(entry.id);
  }
}
