// SPDX-License-Identifier: Apache-2.0
// Minimum-cost assignment (Kuhn-Munkres with potentials, O(n^2 m)). Deterministic: equal costs resolve by index.
import { ValidationError } from '@ecps/core';

/**
 * Assigns each row to a distinct column minimising the total cost.
 * @param cost `n` rows of `m` finite costs, `n <= m`.
 * @returns `assignment[row] = column`.
 * @throws ValidationError `INVALID_ARGUMENT` for ragged or non-finite input or more rows than columns.
 */
export function hungarian(cost: readonly (readonly number[])[]): number[] {
  const n = cost.length;
  if (n === 0) return [];
  const m = (cost[0] as readonly number[]).length;
  if (n > m) throw new ValidationError('INVALID_ARGUMENT', `more rows (${n}) than columns (${m})`);
  for (const row of cost) {
    if (row.length !== m || row.some((c) => !Number.isFinite(c))) {
      throw new ValidationError('INVALID_ARGUMENT', 'the cost matrix must be rectangular with finite costs');
    }
  }
  // 1-based arrays as in the classic formulation; column 0 is a sentinel
  const u = new Array<number>(n + 1).fill(0);
  const v = new Array<number>(m + 1).fill(0);
  const p = new Array<number>(m + 1).fill(0); // p[col] = row matched to col
  const way = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Array<number>(m + 1).fill(Infinity);
    const used = new Array<boolean>(m + 1).fill(false);
    do {
      used[j0] = true;
      const i0 = p[j0] as number;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = (cost[i0 - 1] as readonly number[])[j - 1] as number - (u[i0] as number) - (v[j] as number);
        if (cur < (minv[j] as number)) {
          minv[j] = cur;
          way[j] = j0;
        }
        if ((minv[j] as number) < delta) {
          delta = minv[j] as number;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j] as number] = (u[p[j] as number] as number) + delta;
          v[j] = (v[j] as number) - delta;
        } else {
          minv[j] = (minv[j] as number) - delta;
        }
      }
      j0 = j1;
    } while ((p[j0] as number) !== 0);
    do {
      const j1 = way[j0] as number;
      p[j0] = p[j1] as number;
      j0 = j1;
    } while (j0 !== 0);
  }
  const assignment = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if ((p[j] as number) !== 0) assignment[(p[j] as number) - 1] = j - 1;
  return assignment;
}
