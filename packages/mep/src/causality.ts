// SPDX-License-Identifier: Apache-2.0
// Causality for replicated MEP (spec §7.3): hybrid logical clock, dotted version vectors with a compacted causal
// context, and the deterministic winner between two versions of a key.
import type { Clock } from '@ecps/core';

/** A write's identity: the node that made it and that node's counter. */
export interface DotValue {
  readonly nodeId: string;
  readonly counter: bigint;
}

export interface HlcValue {
  readonly wallNs: bigint;
  readonly logical: number;
}

/** Hybrid logical clock: wall = max(local ns, last, received); `logical` breaks ties. */
export class HybridLogicalClock {
  private last: HlcValue = { wallNs: 0n, logical: 0 };

  constructor(private readonly clock: Clock) {}

  /** Timestamp for a local write. */
  tick(): HlcValue {
    return this.advance(undefined);
  }

  /** Folds in a received timestamp so later local writes order after it. */
  observe(remote: HlcValue): void {
    this.advance(remote);
  }

  private advance(remote: HlcValue | undefined): HlcValue {
    const local = this.clock.nowNs();
    let wall = local > this.last.wallNs ? local : this.last.wallNs;
    if (remote && remote.wallNs > wall) wall = remote.wallNs;
    let logical = 0;
    if (wall === this.last.wallNs) logical = this.last.logical + 1;
    if (remote && wall === remote.wallNs && remote.logical + 1 > logical) logical = remote.logical + 1;
    this.last = { wallNs: wall, logical };
    return this.last;
  }
}

/**
 * The set of dots a node has seen, compacted: a version vector of contiguous prefixes plus a cloud of dots beyond
 * them. `summary()` is what anti-entropy digests carry; a peer resends everything it does not cover.
 */
export class CausalContext {
  private readonly vv = new Map<string, bigint>();
  private readonly cloud = new Map<string, Set<bigint>>();

  covers(dot: DotValue): boolean {
    return dot.counter <= (this.vv.get(dot.nodeId) ?? 0n) || (this.cloud.get(dot.nodeId)?.has(dot.counter) ?? false);
  }

  add(dot: DotValue): void {
    if (this.covers(dot)) return;
    let extra = this.cloud.get(dot.nodeId);
    if (!extra) this.cloud.set(dot.nodeId, (extra = new Set()));
    extra.add(dot.counter);
    this.compact(dot.nodeId);
  }

  /** Element-wise max with a version vector (snapshot restore, anti-entropy catch-up). */
  mergeVector(vector: Readonly<Record<string, bigint>>): void {
    for (const [node, counter] of Object.entries(vector)) {
      if (counter > (this.vv.get(node) ?? 0n)) this.vv.set(node, counter);
      this.compact(node);
    }
  }

  /** Highest counter seen from `nodeId` (contiguous or not). */
  max(nodeId: string): bigint {
    let top = this.vv.get(nodeId) ?? 0n;
    for (const c of this.cloud.get(nodeId) ?? []) if (c > top) top = c;
    return top;
  }

  /** The compacted version vector. */
  summary(): Record<string, bigint> {
    return Object.fromEntries(this.vv);
  }

  private compact(nodeId: string): void {
    const extra = this.cloud.get(nodeId);
    if (!extra) return;
    let base = this.vv.get(nodeId) ?? 0n;
    for (const c of extra) if (c <= base) extra.delete(c);
    while (extra.delete(base + 1n)) base += 1n;
    if (base > 0n) this.vv.set(nodeId, base);
    if (extra.size === 0) this.cloud.delete(nodeId);
  }
}

/** What conflict resolution reads from a version. */
export interface Versioned {
  readonly dot: DotValue;
  readonly context: Readonly<Record<string, bigint>>;
  readonly hlc: HlcValue;
}

/** A supersedes B iff A's context has seen B's dot. */
export function supersedes(a: Versioned, b: Versioned): boolean {
  return (a.context[b.dot.nodeId] ?? 0n) >= b.dot.counter;
}

const utf8 = new TextEncoder();

/**
 * True when `incoming` should replace `current`: it supersedes it, or they are concurrent and it has the larger
 * (hlc.wall_ns, hlc.logical, node_id as UTF-8 bytes, counter). The same dot never replaces itself.
 */
export function wins(incoming: Versioned, current: Versioned): boolean {
  if (incoming.dot.nodeId === current.dot.nodeId && incoming.dot.counter === current.dot.counter) return false;
  if (supersedes(incoming, current)) return true;
  if (supersedes(current, incoming)) return false;
  if (incoming.hlc.wallNs !== current.hlc.wallNs) return incoming.hlc.wallNs > current.hlc.wallNs;
  if (incoming.hlc.logical !== current.hlc.logical) return incoming.hlc.logical > current.hlc.logical;
  const byNode = Buffer.compare(utf8.encode(incoming.dot.nodeId), utf8.encode(current.dot.nodeId));
  // the same writer with equal clocks (possible only for an undo and a write made at the same instant)
  return byNode === 0 ? incoming.dot.counter > current.dot.counter : byNode > 0;
}

/** `node:counter`, a map key for a dot. */
export function dotKey(dot: DotValue): string {
  return `${dot.nodeId}:${dot.counter}`;
}
