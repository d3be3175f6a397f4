// SPDX-License-Identifier: Apache-2.0
// The capability query (spec §2): which nodes can do a job, ranked. A node matches when it has enough capabilities
// and, for every required type, one at or above the minimum confidence; its score weighs required types 0.6,
// optional ones 0.3 and its mean confidence 0.1.
import { PeatError } from '@ecps/peat';
import type { Capability } from '@ecps/peat';

export interface CapabilityQuery {
  readonly required_types: readonly number[];
  readonly optional_types: readonly number[];
  /** In [0, 1]. */
  readonly min_confidence: number;
  /** Fewest capabilities a node must have. */
  readonly min_capability_count?: number | null;
  /** Most results returned. */
  readonly limit?: number | null;
}

/** Something with capabilities: a node configuration, a beacon with its capabilities resolved. */
export interface QueryCandidate {
  readonly id: string;
  readonly capabilities: readonly Capability[];
}

export interface QueryMatch<T extends QueryCandidate> {
  readonly candidate: T;
  readonly score: number;
}

/** Count, mean, min and max confidence of one capability type. */
export interface TypeStats {
  readonly count: number;
  readonly avg: number;
  readonly min: number;
  readonly max: number;
}

function check(q: CapabilityQuery): void {
  if (!(q.min_confidence >= 0 && q.min_confidence <= 1)) throw new PeatError('INVALID_ARGUMENT', `min_confidence ${q.min_confidence} is outside [0, 1]`);
  if (q.limit != null && !(Number.isInteger(q.limit) && q.limit >= 0)) throw new PeatError('INVALID_ARGUMENT', `limit ${q.limit} is not a count`);
  if (q.min_capability_count != null && !(Number.isInteger(q.min_capability_count) && q.min_capability_count >= 0)) {
    throw new PeatError('INVALID_ARGUMENT', `min_capability_count ${q.min_capability_count} is not a count`);
  }
}

/** Highest confidence of `type` among `caps`; 0 when there is none. */
export function bestConfidence(caps: readonly Capability[], type: number): number {
  let best = 0;
  for (const c of caps) if (c.capability_type === type && c.confidence > best) best = c.confidence;
  return best;
}

function meanBest(caps: readonly Capability[], types: readonly number[]): number {
  if (types.length === 0) return 1;
  return types.reduce((s, t) => s + bestConfidence(caps, t), 0) / types.length;
}

/** Whether `caps` satisfy the query's minimum count and required types. @throws PeatError `INVALID_ARGUMENT` for a malformed query. */
export function matchesQuery(caps: readonly Capability[], q: CapabilityQuery): boolean {
  check(q);
  if (q.min_capability_count != null && caps.length < q.min_capability_count) return false;
  return q.required_types.every((t) => caps.some((c) => c.capability_type === t && c.confidence >= q.min_confidence));
}

/** `0.6·R + 0.3·O + 0.1·M`, clamped to [0, 1] (R, O: mean best confidence per required/optional type; M: mean confidence). */
export function queryScore(caps: readonly Capability[], q: CapabilityQuery): number {
  const r = meanBest(caps, q.required_types);
  const o = meanBest(caps, q.optional_types);
  const m = caps.length ? caps.reduce((s, c) => s + c.confidence, 0) / caps.length : 0;
  return Math.min(1, Math.max(0, 0.6 * r + 0.3 * o + 0.1 * m));
}

/**
 * The matching candidates, best score first (ties: smaller id first), at most `limit`.
 * @throws PeatError `INVALID_ARGUMENT` for a malformed query.
 */
export function queryCapabilities<T extends QueryCandidate>(candidates: readonly T[], q: CapabilityQuery): QueryMatch<T>[] {
  check(q);
  const out = candidates.filter((c) => matchesQuery(c.capabilities, q)).map((candidate) => ({ candidate, score: queryScore(candidate.capabilities, q) }));
  out.sort((a, b) => b.score - a.score || (a.candidate.id < b.candidate.id ? -1 : a.candidate.id > b.candidate.id ? 1 : 0));
  return q.limit == null ? out : out.slice(0, q.limit);
}

/** Per-type statistics of `caps`. */
export function capabilityStats(caps: readonly Capability[]): Map<number, TypeStats> {
  const byType = new Map<number, number[]>();
  for (const c of caps) {
    const list = byType.get(c.capability_type) ?? [];
    list.push(c.confidence);
    byType.set(c.capability_type, list);
  }
  const out = new Map<number, TypeStats>();
  for (const [type, list] of byType) {
    out.set(type, { count: list.length, avg: list.reduce((s, x) => s + x, 0) / list.length, min: Math.min(...list), max: Math.max(...list) });
  }
  return out;
}
