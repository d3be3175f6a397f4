// SPDX-License-Identifier: Apache-2.0
// An approximate index for @ecps/mep backed by hnswlib (HNSW graphs, inner-product space over the store's
// normalised vectors). hnswlib-node is an optional native dependency, loaded on first use.
import { EcpsError, ValidationError } from '@ecps/core';
import type { ApproximateIndex, ApproximateIndexFactory } from '@ecps/mep';

export interface HnswOptions {
  /** Graph degree (hnswlib `M`). Default 16. */
  m?: number;
  /** Candidate list size while building. Default 200. */
  efConstruction?: number;
  /** Candidate list size while searching (raised to the requested count when smaller). Default 64. */
  efSearch?: number;
  /** Seed of the level generator, for reproducible graphs. Default 100. */
  seed?: number;
}

interface HierarchicalNswLike {
  initIndex(maxElements: number, m?: number, efConstruction?: number, randomSeed?: number, allowReplaceDeleted?: boolean): void;
  resizeIndex(newMaxElements: number): void;
  addPoint(point: number[], label: number, replaceDeleted?: boolean): void;
  markDelete(label: number): void;
  searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
  getMaxElements(): number;
  setEf(ef: number): void;
}

type HnswCtor = new (space: 'ip', dim: number) => HierarchicalNswLike;

let loaded: Promise<HnswCtor> | undefined;

/** Loads hnswlib-node once. Throws `UNSUPPORTED` when it is not installed or its native build is missing. */
function loadHnswlib(): Promise<HnswCtor> {
  loaded ??= import('hnswlib-node').then(
    (mod: { HierarchicalNSW?: unknown; default?: { HierarchicalNSW?: unknown } }) => {
      const ctor = mod.HierarchicalNSW ?? mod.default?.HierarchicalNSW;
      if (typeof ctor !== 'function') throw new Error('hnswlib-node exports no HierarchicalNSW');
      return ctor as HnswCtor;
    },
    (cause: unknown) => {
      loaded = undefined;
      throw new EcpsError('UNSUPPORTED', 'hnswlib-node is not installed or failed to build; install it to use @ecps/mep-hnsw', { cause });
    },
  );
  return loaded;
}

/** True when hnswlib-node can be loaded here. */
export async function hnswAvailable(): Promise<boolean> {
  try {
    await loadHnswlib();
    return true;
  } catch {
    return false;
  }
}

/**
 * An {@link ApproximateIndexFactory} for `createMemoryStore({ approximate })`. Resolves once hnswlib-node is
 * loaded; throws `UNSUPPORTED` when it is missing and `CONFIG_INVALID` for bad parameters.
 */
export async function hnswIndex(options: HnswOptions = {}): Promise<ApproximateIndexFactory> {
  const m = options.m ?? 16;
  const efConstruction = options.efConstruction ?? 200;
  const efSearch = options.efSearch ?? 64;
  const seed = options.seed ?? 100;
  for (const [name, value] of Object.entries({ m, efConstruction, efSearch })) {
    if (!Number.isInteger(value) || value < 2) throw new ValidationError('CONFIG_INVALID', `${name} must be an integer >= 2, got ${value}`);
  }
  const Ctor = await loadHnswlib();
  return {
    name: `hnsw(m=${m},efConstruction=${efConstruction},ef=${efSearch})`,
    create: (dimension, capacity) => new HnswIndex(new Ctor('ip', dimension), dimension, Math.max(16, capacity), { m, efConstruction, efSearch, seed }),
  };
}

class HnswIndex implements ApproximateIndex {
  private live = 0;
  private readonly labels = new Set<number>();
  /** The ef last given to the graph: a native call per query only when it changes. */
  private ef = -1;
  /** One reused plain array for queries (hnswlib-node takes no typed arrays): no allocation per search. */
  private readonly queryArray: number[];

  constructor(
    private readonly graph: HierarchicalNswLike,
    dimension: number,
    capacity: number,
    private readonly params: Required<HnswOptions>,
  ) {
    // allowReplaceDeleted: evicted entries' slots are reused, so an LRU store never outgrows its capacity
    graph.initIndex(capacity, params.m, params.efConstruction, params.seed, true);
    // packed doubles (not a holey `new Array(n)`): the addon reads every element
    this.queryArray = Array.from({ length: dimension }, () => 0.5);
  }

  add(id: number, vector: Float64Array): void {
    if (this.labels.has(id)) return;
    if (this.live + 1 > this.graph.getMaxElements()) this.graph.resizeIndex(this.graph.getMaxElements() * 2);
    this.graph.addPoint(Array.from(vector), id, true);
    this.labels.add(id);
    this.live++;
  }

  remove(id: number): void {
    if (!this.labels.delete(id)) return;
    this.graph.markDelete(id);
    this.live--;
  }

  search(query: Float64Array, count: number): number[] {
    const k = Math.min(count, this.live);
    if (k === 0) return [];
    const ef = Math.max(this.params.efSearch, k);
    if (ef !== this.ef) this.graph.setEf((this.ef = ef));
    const q = this.queryArray;
    for (let i = 0; i < q.length; i++) q[i] = query[i]!;
    return this.graph.searchKnn(q, k).neighbors;
  }
}
