// SPDX-License-Identifier: Apache-2.0
// Formation geometry: slot positions for n agents around a centre, rotated by a heading. Pure functions.
import { ValidationError } from '@ecps/core';

export interface Vec3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

export type FormationShape = 'circle' | 'line' | 'grid' | 'triangle' | 'diamond';
export const FORMATION_SHAPES: readonly FormationShape[] = ['circle', 'line', 'grid', 'triangle', 'diamond'];

export interface FormationOptions {
  /** Default the origin. */
  readonly center?: Vec3;
  /** Distance between neighbouring slots. Default 1. */
  readonly spacing?: number;
  /** Rotation about the vertical axis through the centre, radians counter-clockwise. Default 0. */
  readonly headingRad?: number;
}

/**
 * The `n` slot positions of `shape`, all at the centre's height:
 * - line: along x, centred; circle: regular polygon with sides of `spacing`, first slot on +x;
 * - grid: `ceil(sqrt(n))` columns, rows downward in -y, centred; triangle: apex at the centre, row k holding k + 1
 *   slots, rows `spacing * sqrt(3)/2` apart (equilateral); diamond: evenly spaced along the square |x|+|y| = r
 *   whose perimeter is `n * spacing`, first slot on +x.
 * @throws ValidationError `INVALID_ARGUMENT` for an unknown shape, n < 0 or spacing <= 0.
 */
export function formationSlots(shape: FormationShape, n: number, options: FormationOptions = {}): Vec3[] {
  const spacing = options.spacing ?? 1;
  if (!Number.isInteger(n) || n < 0) throw new ValidationError('INVALID_ARGUMENT', `agent count ${n} must be a non-negative integer`);
  if (!(spacing > 0)) throw new ValidationError('INVALID_ARGUMENT', `spacing ${spacing} must be positive`);
  let local: [number, number][];
  switch (shape) {
    case 'line':
      local = Array.from({ length: n }, (_, i) => [(i - (n - 1) / 2) * spacing, 0]);
      break;
    case 'circle': {
      const r = n < 2 ? 0 : spacing / (2 * Math.sin(Math.PI / n));
      local = Array.from({ length: n }, (_, i) => [r * Math.cos((2 * Math.PI * i) / n), r * Math.sin((2 * Math.PI * i) / n)]);
      break;
    }
    case 'grid': {
      const cols = Math.ceil(Math.sqrt(n));
      const rows = Math.ceil(n / Math.max(cols, 1));
      local = Array.from({ length: n }, (_, i) => [
        ((i % cols) - (cols - 1) / 2) * spacing,
        -(Math.floor(i / cols) - (rows - 1) / 2) * spacing,
      ]);
      break;
    }
    case 'triangle': {
      local = [];
      for (let row = 0; local.length < n; row++) {
        for (let k = 0; k <= row && local.length < n; k++) {
          local.push([(k - row / 2) * spacing, (-row * spacing * Math.sqrt(3)) / 2]);
        }
      }
      break;
    }
    case 'diamond': {
      const r = (n * spacing) / (4 * Math.SQRT2);
      local = Array.from({ length: n }, (_, i) => {
        // walk the perimeter: 4 edges from (r,0) -> (0,r) -> (-r,0) -> (0,-r) -> (r,0)
        const t = (4 * i) / n;
        const edge = Math.floor(t);
        const f = t - edge;
        const corners: [number, number][] = [[r, 0], [0, r], [-r, 0], [0, -r], [r, 0]];
        const a = corners[edge] as [number, number];
        const b = corners[edge + 1] as [number, number];
        return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
      });
      break;
    }
    default:
      throw new ValidationError('INVALID_ARGUMENT', `unknown formation '${String(shape)}'`);
  }
  const c = options.center ?? { x: 0, y: 0, z: 0 };
  const h = options.headingRad ?? 0;
  const cos = Math.cos(h);
  const sin = Math.sin(h);
  return local.map(([x, y]) => ({ x: c.x + x * cos - y * sin, y: c.y + x * sin + y * cos, z: c.z }));
}

export function distance(a: Vec3, b: Vec3): number {
  return Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
}
