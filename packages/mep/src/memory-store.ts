// SPDX-License-Identifier: Apache-2.0
// The MEP MemoryStore (spec §7.2): Put and Query with the exact semantics of the spec, true LRU, snapshots, and
// optional replication (§7.3). Its put/query methods satisfy the gRPC MemoryStore handler structurally.
import {
  ValidationError,
  assertMinSim,
  cryptoRandom,
  isEcpsError,
  silentLogger,
  toHex,
  systemClock,
  uuidv4,
  type Clock,
  type Logger,
  type RandomSource,
} from '@ecps/core';
import type { Ack, LTP, QueryReq } from '@ecps/proto';
import type { MepSnapshot } from '@ecps/proto/ext/v1';
import type { ApproximateIndexFactory } from './approximate-index';
import { fromMepEntry, toMepEntry } from './entry-codec';
import { loadNativeScanner } from './candidate-scan';
import type { SearchRequest, VectorPrecision } from './exact-index';
import { pythonFloatString } from '@ecps/ltp';
import { decodeRawTensor, encodeRawTensor, type RawTensor } from './ltp-frame';
import { LocalMemory, type SearchHit, type StoredEntry } from './local-memory';
import { flattenToFloat64 } from './vector-math';
import { QUORUM_NOT_REACHED, Replicator, type ConsistencyMode, type ReplicationOptions } from './replication';

export interface MemoryStoreOptions {
  /** This replica's node id (dots, replication topics). Default `local`. */
  nodeId?: string;
  /** Most live entries kept; the least recently used is evicted beyond it. Default 10000. */
  maxSize?: number;
  /** Precision of the exact matrix. Default `float64` (the spec's arithmetic, bit for bit). */
  precision?: VectorPrecision;
  /** An approximate index (e.g. `hnswIndex()` from @ecps/mep-hnsw); default none: exact search. */
  approximate?: ApproximateIndexFactory;
  /** With an approximate index: candidates fetched per query = k × this, then rescored exactly. Default 1 (see README). */
  candidateFactor?: number;
  /**
   * Narrow exact search with usearch's SIMD scan when that optional dependency loads (results are identical; a
   * float64 store keeps a float32 copy of its vectors for it, +50% memory). Default true; applied by `start()`.
   */
  nativeScan?: boolean;
  /** Largest `k` a query may ask for; more is refused with `INVALID_QUERY`. Default 10000. */
  maxQueryK?: number;
  /** Replicate across nodes; without it the store is standalone (R = 1). */
  replication?: ReplicationOptions;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

/** A stored embedding as returned by {@link MemoryStore.get}. */
export interface MemoryRecord {
  readonly key: string;
  readonly tensor: RawTensor;
  readonly frameId: string;
  readonly timestampNs: bigint;
}

/** One ranked query result. */
export interface QueryHit {
  readonly key: string;
  readonly similarity: number;
}

/** Default `k` when a query asks for 0 (spec §7.2; the reference returns nothing). */
export const DEFAULT_QUERY_K = 10;
/** Default cap on a query's `k` (the requester declares it; the store never allocates for more). */
export const DEFAULT_MAX_QUERY_K = 10_000;
/** The Ack message of a successful Put (spec §7.2). */
export const PUT_OK_MESSAGE = 'Embedding stored successfully';

/** Creates a store and, when replication is configured, starts listening to its peers. */
export async function createMemoryStore(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
  const store = new MemoryStore(options);
  await store.start();
  return store;
}

export class MemoryStore {
  readonly nodeId: string;
  private readonly memory: LocalMemory;
  private readonly replicator: Replicator | undefined;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly maxQueryK: number;
  private readonly nativeScan: boolean;
  private queryScratch = new Float64Array(0);
  /** Queries decoded in this turn of the event loop, answered together by one scan (see {@link rankBatched}). */
  private pending: { request: SearchRequest; done: (hits: SearchHit[]) => void; fail: (error: unknown) => void }[] = [];

  /** Prefer {@link createMemoryStore}; a replicated store built directly must be `start()`ed. */
  constructor(options: MemoryStoreOptions = {}) {
    this.nodeId = options.nodeId ?? 'local';
    const maxSize = options.maxSize ?? 10_000;
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new ValidationError('CONFIG_INVALID', `maxSize must be a positive integer, got ${maxSize}`);
    const candidateFactor = options.candidateFactor ?? 1;
    if (!(candidateFactor >= 1)) throw new ValidationError('CONFIG_INVALID', `candidateFactor must be >= 1, got ${candidateFactor}`);
    this.maxQueryK = options.maxQueryK ?? DEFAULT_MAX_QUERY_K;
    if (!Number.isInteger(this.maxQueryK) || this.maxQueryK < 1) throw new ValidationError('CONFIG_INVALID', `maxQueryK must be a positive integer, got ${this.maxQueryK}`);
    this.nativeScan = options.nativeScan ?? true;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.memory = new LocalMemory({
      nodeId: this.nodeId,
      // a fresh writer id per start: dots are never reused, even after a restart that lost every byte of state
      actor: `${this.nodeId}#${toHex(this.random.bytes(8))}`,
      maxSize,
      precision: options.precision ?? 'float64',
      approximate: options.approximate,
      candidateFactor,
      clock: this.clock,
    });
    const replication = options.replication;
    if (replication) {
      const r = replication.replicationFactor ?? 3;
      if (!Number.isInteger(r) || r < 1) throw new ValidationError('CONFIG_INVALID', `replicationFactor must be a positive integer, got ${r}`);
      this.replicator = new Replicator(this.memory, replication, { clock: this.clock, random: this.random, logger: options.logger ?? silentLogger });
    }
  }

  async start(): Promise<void> {
    if (this.nativeScan) this.memory.useScanner(await loadNativeScanner());
    await this.replicator?.start();
  }

  /** `eventual`, `strong`, or `standalone` without replication. */
  get consistency(): ConsistencyMode | 'standalone' {
    return this.replicator?.mode ?? 'standalone';
  }

  /** Live entries. */
  get size(): number {
    return this.memory.size;
  }

  /** Entries evicted by LRU since creation. */
  get evictions(): number {
    return this.memory.evictions;
  }

  /** Live keys, least recently used first. */
  keys(): string[] {
    return this.memory.keys();
  }

  /** A stored entry, without touching its recency. */
  get(key: string): MemoryRecord | undefined {
    const entry = this.memory.get(key);
    return entry && toRecord(entry);
  }

  /**
   * Put (spec §7.2): validates the LTP (§3), stores it under `attributes["mep_id"]` or a fresh UUID v4, and
   * replicates it. Never throws for bad input: the Ack says what was wrong and nothing already stored changes.
   */
  async put(request: LTP): Promise<Ack> {
    let tensor: RawTensor;
    try {
      tensor = await decodeRawTensor(request);
    } catch (error) {
      if (isEcpsError(error)) return { success: false, message: `${error.code}: ${error.message}` };
      throw error;
    }
    const key = request.attributes['mep_id'] || uuidv4(this.random);
    return this.write(key, tensor, request.frameId, request.timestampNs);
  }

  /** Deletes a key (a replicated tombstone). Acks false when the key is unknown. */
  async delete(key: string): Promise<Ack> {
    if (!this.memory.get(key)) return { success: false, message: `no entry ${JSON.stringify(key)}` };
    return this.write(key, undefined, '', 0n);
  }

  /**
   * Query (spec §7.2), as a stream of fresh LTP frames with `attributes["similarity"]`. Throws (ends the stream
   * with) a {@link ValidationError}: `INVALID_QUERY` for a missing embedding, a non-finite `min_sim` or a `k` above
   * `maxQueryK`, or the §3 code of a malformed query tensor.
   */
  async *query(request: QueryReq, signal?: AbortSignal): AsyncIterable<LTP> {
    // the ranked versions themselves are framed, so a concurrent Put cannot swap a tensor under its similarity
    for (const { entry, similarity } of await this.rank(request)) {
      if (signal?.aborted) return;
      yield await encodeRawTensor(entry.tensor!, {
        frameId: entry.frameId,
        timestampNs: entry.timestampNs,
        attributes: { mep_id: entry.key, similarity: pythonFloatString(similarity) },
      });
    }
  }

  /** The ranked hits of a query, without framing them (see {@link MemoryStore.query} for the errors). */
  async search(request: QueryReq): Promise<QueryHit[]> {
    return toQueryHits(await this.rank(request));
  }

  /**
   * Ranks stored entries against a flat query vector with the §7.2 rules: `k` 0 means 10, `minSim` is widened
   * from float32, inclusive. Each hit's recency is refreshed. Throws `INVALID_QUERY` for a non-finite `minSim` or
   * a `k` that is not an integer in 0..`maxQueryK`.
   */
  searchVector(vector: ArrayLike<number>, k: number, minSim: number): QueryHit[] {
    // one reused buffer: ranking is synchronous and keeps no reference to the query
    if (this.queryScratch.length !== vector.length) this.queryScratch = new Float64Array(vector.length);
    this.queryScratch.set(vector);
    return this.memory.searchMany([this.searchRequest(this.queryScratch, k, minSim)]).map(toQueryHits)[0]!;
  }

  /**
   * {@link searchVector} for several query vectors at once, answered as if one after the other; with the native
   * scan, one pass over the stored vectors serves a whole batch. Same errors as {@link searchVector}.
   */
  searchVectors(vectors: readonly ArrayLike<number>[], k: number, minSim: number): QueryHit[][] {
    // the constructor copies typed arrays in one block; `Float64Array.from` would iterate
    const requests = vectors.map((v) => this.searchRequest(new Float64Array(v), k, minSim));
    return this.memory.searchMany(requests).map(toQueryHits);
  }

  private async rank(request: QueryReq): Promise<SearchHit[]> {
    if (!request.queryEmbedding) throw new ValidationError('INVALID_QUERY', 'QueryReq has no query_embedding');
    this.assertQuery(request.k, request.minSim);
    const query = await decodeRawTensor(request.queryEmbedding);
    return this.rankBatched(this.searchRequest(flattenToFloat64(query), request.k, request.minSim));
  }

  /**
   * Concurrent queries (e.g. parallel gRPC Query calls) are collected until the event loop's check phase and
   * ranked together, so one pass over the matrix serves them all. Each is answered from the state at that moment.
   */
  private rankBatched(request: SearchRequest): Promise<SearchHit[]> {
    return new Promise((done, fail) => {
      if (this.pending.push({ request, done, fail }) > 1) return;
      setImmediate(() => {
        const batch = this.pending;
        this.pending = [];
        try {
          const results = this.memory.searchMany(batch.map((p) => p.request));
          batch.forEach((p, i) => p.done(results[i]!));
        } catch (error) {
          for (const p of batch) p.fail(error);
        }
      });
    });
  }

  /** Applies the §7.2 query rules (`k` 0 means 10, `minSim` widened from float32); throws `INVALID_QUERY`. */
  private searchRequest(query: Float64Array, k: number, minSim: number): SearchRequest {
    this.assertQuery(k, minSim);
    return { query, k: k === 0 ? DEFAULT_QUERY_K : k, minSim: Math.fround(minSim) };
  }

  private assertQuery(k: number, minSim: number): void {
    assertMinSim(minSim);
    if (!Number.isInteger(k) || k < 0 || k > this.maxQueryK) {
      throw new ValidationError('INVALID_QUERY', `k must be an integer in 0..${this.maxQueryK}, got ${k}`, { details: { k, limit: this.maxQueryK } });
    }
  }

  /** recall@k of the approximate index against exact search over `samples` stored vectors (1 when exact). */
  measureRecall(options: { k?: number; samples?: number } = {}): { recall: number; queries: number } {
    return this.memory.measureRecall(options.k ?? 10, options.samples ?? 100);
  }

  /** The compacted version vector: every dot this replica has seen, per node. */
  versionVector(): Record<string, bigint> {
    return this.memory.context.summary();
  }

  /** Every version (tombstones too), the compacted version vector and the node id, as `MepSnapshot`. */
  async snapshot(): Promise<MepSnapshot> {
    const entries = await Promise.all([...this.memory.all()].map(toMepEntry));
    return {
      nodeId: this.nodeId,
      versionVector: this.memory.context.summary(),
      entryCount: BigInt(entries.length),
      timestampNs: this.clock.nowNs(),
      entries,
    };
  }

  /**
   * Merges a snapshot: every entry by the §7.3 rule, then the element-wise max of version vectors. Validates all
   * entries first and throws a {@link ValidationError} without changing anything if one is malformed.
   */
  async restore(snapshot: MepSnapshot): Promise<void> {
    const incoming = await Promise.all(snapshot.entries.map(fromMepEntry));
    for (const entry of incoming) this.memory.merge(entry);
    this.memory.context.mergeVector(snapshot.versionVector);
  }

  /** Runs one anti-entropy round now (replicated stores; a no-op otherwise). */
  async antiEntropy(): Promise<void> {
    await this.replicator?.antiEntropy();
  }

  /** Stops replication; pending strong writes resolve with `success: false`. Idempotent. */
  async close(): Promise<void> {
    await this.replicator?.close();
    this.memory.clear();
  }

  private async write(key: string, tensor: RawTensor | undefined, frameId: string, timestampNs: bigint): Promise<Ack> {
    if (this.replicator && !this.replicator.canReachQuorum) return { success: false, message: QUORUM_NOT_REACHED };
    const { entry, previous } = this.memory.write(key, tensor, frameId, timestampNs);
    const ack = this.replicator ? await this.replicator.replicate(entry, previous) : { success: true, message: '' };
    if (!ack.success) return ack;
    return { success: true, message: tensor ? PUT_OK_MESSAGE : 'Embedding deleted' };
  }
}

function toRecord(entry: StoredEntry): MemoryRecord {
  return { key: entry.key, tensor: entry.tensor!, frameId: entry.frameId, timestampNs: entry.timestampNs };
}

const toQueryHits = (hits: readonly SearchHit[]): QueryHit[] => hits.map(({ entry, similarity }) => ({ key: entry.key, similarity }));
