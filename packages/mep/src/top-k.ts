// SPDX-License-Identifier: Apache-2.0
// Bounded best-k selection in the order of spec §7.2: similarity descending, ties by older insertion first.

/** One ranked candidate: store-internal id, insertion sequence, similarity and what the caller stored with it. */
export interface Ranked<T> {
  id: number;
  seq: number;
  sim: number;
  value: T;
}

/**
 * Keeps the best `k` candidates seen so far in preallocated arrays, sorted best first. Plain packed arrays, not typed
 * ones: a typed array this size gets its own ArrayBuffer, and one per query adds external-memory GC pressure.
 */
export class TopK {
  readonly k: number;
  count = 0;
  private readonly sims: number[];
  private readonly seqs: number[];
  private readonly rows: number[];

  constructor(k: number) {
    this.k = k;
    this.sims = Array.from({ length: k }, () => 0);
    this.seqs = Array.from({ length: k }, () => 0);
    this.rows = Array.from({ length: k }, () => 0);
  }

  /** The similarity of the last selected candidate (meaningful once `count > 0`). */
  get worstSim(): number {
    return this.sims[this.count - 1]!;
  }

  /** True when a candidate with this similarity and sequence would enter the selection. */
  accepts(sim: number, seq: number): boolean {
    if (this.count < this.k) return true;
    const worst = this.count - 1;
    const ws = this.sims[worst]!;
    return sim > ws || (sim === ws && seq < this.seqs[worst]!);
  }

  /** Offers the candidate stored in `row` of the caller's matrix. */
  push(sim: number, seq: number, row: number): void {
    if (this.k === 0 || !this.accepts(sim, seq)) return;
    let i = this.count < this.k ? this.count++ : this.count - 1;
    // insertion from the tail: k is small (default 10), so this beats a heap
    while (i > 0) {
      const ps = this.sims[i - 1]!;
      if (ps > sim || (ps === sim && this.seqs[i - 1]! < seq)) break;
      this.sims[i] = ps;
      this.seqs[i] = this.seqs[i - 1]!;
      this.rows[i] = this.rows[i - 1]!;
      i--;
    }
    this.sims[i] = sim;
    this.seqs[i] = seq;
    this.rows[i] = row;
  }

  /** The selection, best first, with each row's id and value (read now: rows move when the matrix changes). */
  results<T>(ids: ArrayLike<number>, values: readonly T[]): Ranked<T>[] {
    const out: Ranked<T>[] = [];
    for (let i = 0; i < this.count; i++) {
      const row = this.rows[i]!;
      out.push({ id: ids[row]!, seq: this.seqs[i]!, sim: this.sims[i]!, value: values[row]! });
    }
    return out;
  }
}
