// SPDX-License-Identifier: Apache-2.0
// How a result's figures and targets are written and judged, shared by the report (run.ts) and the README headline
// (publish.ts).

/** The fields of a result row that targets concern. */
export interface TargetedResult {
  unit: string;
  higherIsBetter: boolean;
  ours: { median: number };
  ratio: number;
  /** Ratio ours should reach against the raw baseline. */
  target?: number;
  /** Absolute figure (in `unit`) ours should reach. */
  targetValue?: number;
}

/** A figure with three significant digits or none after the point from 100 up. */
export const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));

/** True when the result names a target of either kind. */
export const hasTarget = (r: TargetedResult): boolean => r.target !== undefined || r.targetValue !== undefined;

/** Whether ours misses the absolute target (false when there is none). */
export const missesValue = (r: TargetedResult): boolean =>
  r.targetValue !== undefined && (r.higherIsBetter ? r.ours.median < r.targetValue : r.ours.median > r.targetValue);

/** Whether the result misses a target it names: the ratio, the absolute figure, or both. */
export const missesTarget = (r: TargetedResult): boolean => (r.target !== undefined && r.ratio < r.target) || missesValue(r);

/** The target column: a ratio, an absolute figure (`≥ 50000 msg/s`), or both. */
export const targetOf = (r: TargetedResult): string =>
  [r.target, r.targetValue === undefined ? undefined : `${r.higherIsBetter ? '≥' : '≤'} ${fmt(r.targetValue)} ${r.unit}`]
    .filter((t) => t !== undefined)
    .join(', ');
