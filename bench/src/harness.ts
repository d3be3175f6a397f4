// SPDX-License-Identifier: Apache-2.0
// What a benchmark case is, and helpers to measure one side of it.
import type { RequiredWork } from './profile';

/**
 * One comparison: `ours` and `baseline` each perform one measurement and return its figure in `unit`.
 * The runner alternates them for `repetitions` rounds (after one warm-up each) and reports medians and the
 * ratio, oriented so that >= 1 means ours is at least as good as the baseline.
 */
export interface BenchCase {
  name: string;
  /** e.g. 'ops/s', 'msg/s', 'GiB/s', 'ms'. */
  unit: string;
  higherIsBetter: boolean;
  /** Default 5. */
  repetitions?: number;
  /**
   * The ratio this case should reach (e.g. an issue's target). While the measured ratio is below it, the runner
   * profiles one more `ours()` measurement and reports where its time goes.
   */
  target?: number;
  /**
   * An absolute figure (in `unit`) ours should reach, e.g. an issue's "≥ 50k msg/s"; shown in the target column and
   * profiled like `target` while ours' median misses it.
   */
  targetValue?: number;
  /**
   * Work the spec requires of ours that the baseline does not do. While below target, the profile reports its share
   * and the ratio ours would have without it: the part of the gap that is no overhead of ours.
   */
  requiredWork?: RequiredWork;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  ours(): Promise<number>;
  baseline(): Promise<number>;
  /** Called after the runs: figures beyond the two medians, listed under the table and kept in the results JSON. */
  details?(medians: { ours: number; baseline: number }): CaseDetails | undefined;
}

/** What a case reports besides its medians. */
export interface CaseDetails {
  /** One line each under the report's table (percentiles, totals, how a baseline was computed). */
  readonly notes?: readonly string[];
  /** Structured figures for scripts that read results/latest.json (e.g. the Peat scale plot). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Runs `fn` repeatedly for at least `minMs` and returns calls per second. */
export async function opsPerSecond(fn: () => unknown, minMs = 300): Promise<number> {
  let calls = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < batch; i++) fn();
    calls += batch;
    batch = Math.min(batch * 2, 65_536);
    elapsed = performance.now() - start;
  }
  return (calls * 1000) / elapsed;
}

/** Like {@link opsPerSecond} for async work, awaited one call at a time. */
export async function asyncOpsPerSecond(fn: () => Promise<unknown>, minMs = 300): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    await fn();
    calls++;
    elapsed = performance.now() - start;
  }
  return (calls * 1000) / elapsed;
}

/** The q-quantile (0..1) of samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export const median = (samples: readonly number[]) => quantile(samples, 0.5);
