// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_FLOCKING, flockingVelocity } from './flocking';
import { decodeFormationCommand, encodeFormationCommand } from './formation-command';
import { distance, formationSlots } from './formations';
import type { Vec3 } from './formations';
import { hungarian } from './hungarian';
import { assignSlots, planFormation } from './slot-assignment';

const p = (x: number, y: number): Vec3 => ({ x, y, z: 0 });
const close = (actual: Vec3[], expected: [number, number][]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    expect(a.x).toBeCloseTo((expected[i] as [number, number])[0], 9);
    expect(a.y).toBeCloseTo((expected[i] as [number, number])[1], 9);
  });
};

describe('formationSlots (hand-computed)', () => {
  it('line', () => close(formationSlots('line', 3, { spacing: 2 }), [[-2, 0], [0, 0], [2, 0]]));
  it('circle: a square of side sqrt(2) has radius 1', () =>
    close(formationSlots('circle', 4, { spacing: Math.SQRT2 }), [[1, 0], [0, 1], [-1, 0], [0, -1]]));
  it('grid: 2x2 centred', () => close(formationSlots('grid', 4, { spacing: 2 }), [[-1, 1], [1, 1], [-1, -1], [1, -1]]));
  it('triangle: apex then a row of two, equilateral', () => {
    const h = Math.sqrt(3) / 2;
    close(formationSlots('triangle', 3), [[0, 0], [-0.5, -h], [0.5, -h]]);
    const s = formationSlots('triangle', 3);
    expect(distance(s[1] as Vec3, s[2] as Vec3)).toBeCloseTo(1, 9);
    expect(distance(s[0] as Vec3, s[1] as Vec3)).toBeCloseTo(1, 9);
  });
  it('diamond: 4 slots on the axes, neighbours one spacing apart', () => {
    const r = 1 / Math.SQRT2;
    close(formationSlots('diamond', 4), [[r, 0], [0, r], [-r, 0], [0, -r]]);
  });
  it('rotates by the heading and moves to the centre', () =>
    close(formationSlots('line', 2, { spacing: 2, headingRad: Math.PI / 2, center: { x: 10, y: 5, z: 1 } }), [[10, 4], [10, 6]]));
  it('rejects bad input with INVALID_ARGUMENT', () => {
    expect(() => formationSlots('line', -1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => formationSlots('line', 2, { spacing: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => formationSlots('hexagon' as 'line', 2)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

function bruteForce(cost: number[][]): number {
  const n = cost.length;
  const m = (cost[0] as number[]).length;
  let best = Infinity;
  const used = new Array<boolean>(m).fill(false);
  const go = (i: number, acc: number) => {
    if (i === n) {
      best = Math.min(best, acc);
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      go(i + 1, acc + ((cost[i] as number[])[j] as number));
      used[j] = false;
    }
  };
  go(0, 0);
  return best;
}

describe('hungarian', () => {
  it('solves a hand-computed 3x3 case', () => {
    expect(hungarian([[4, 1, 3], [2, 0, 5], [3, 2, 2]])).toEqual([1, 0, 2]);
  });
  it('handles more columns than rows', () => {
    expect(hungarian([[10, 1, 10], [1, 10, 10]])).toEqual([1, 0]);
  });
  it('matches brute force on random matrices', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 2 }), fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 48, maxLength: 48 }), (n, extra, pool) => {
        const m = n + extra;
        const cost = Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => pool[(i * m + j) % pool.length] as number));
        const a = hungarian(cost);
        expect(new Set(a).size).toBe(n);
        const total = a.reduce((s, j, i) => s + ((cost[i] as number[])[j] as number), 0);
        expect(total).toBe(bruteForce(cost));
      }),
      { numRuns: 200 },
    );
  });
  it('rejects more rows than columns', () => {
    expect(() => hungarian([[1], [2]])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('slot assignment and formation change', () => {
  it('sends each robot to the nearest free slot when that is optimal', () => {
    const slots = formationSlots('line', 3, { spacing: 2 });
    const a = assignSlots([{ id: 'r3', position: p(-2.1, 0) }, { id: 'r1', position: p(2.2, 0) }, { id: 'r2', position: p(0, 0.5) }], slots);
    expect(a.slots.get('r3')).toBe(0);
    expect(a.slots.get('r2')).toBe(1);
    expect(a.slots.get('r1')).toBe(2);
    expect(a.totalDistance).toBeCloseTo(0.1 + 0.5 + 0.2, 9);
  });
  it('is deterministic whatever the input order and minimises the total (not greedy)', () => {
    // greedy by agent would give A the slot at 0 (cost 0) and B the one at 10 (cost 9): 9. Optimal: 1 + 1 = 2.
    const slots = [p(0, 0), p(10, 0)];
    const agents = [{ id: 'A', position: p(0, 0) }, { id: 'B', position: p(1, 0) }];
    const fwd = assignSlots(agents, [p(1, 0), p(-1, 0)]);
    const rev = assignSlots([...agents].reverse(), [p(1, 0), p(-1, 0)]);
    expect([...fwd.slots]).toEqual([...rev.slots]);
    expect(assignSlots([{ id: 'A', position: p(9, 0) }, { id: 'B', position: p(1, 0) }], slots).totalDistance).toBeCloseTo(2, 9);
  });
  it('plans a change from a line to a circle and round-trips the command through protobuf', () => {
    const agents = formationSlots('line', 3).map((position, i) => ({ id: `r${i}`, position }));
    const plan = planFormation(agents, 'circle', { spacing: 1 });
    expect(plan.targets.size).toBe(3);
    const bytes = encodeFormationCommand({ formationId: 'f1', shape: 'circle', center: p(0, 0), spacing: 1, headingRad: 0, targets: plan.targets });
    const back = decodeFormationCommand(bytes);
    expect(back.shape).toBe('circle');
    expect(back.targets.get('r0')).toEqual(plan.targets.get('r0'));
    expect(() => decodeFormationCommand(new Uint8Array([0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});

describe('flockingVelocity', () => {
  it('with no neighbours keeps its velocity (clamped)', () => {
    const v = flockingVelocity({ position: p(0, 0), velocity: p(3, 4) }, []);
    expect(v.x).toBeCloseTo(0.6, 12);
    expect(v.y).toBeCloseTo(0.8, 12);
  });
  it('cohesion pulls toward the centroid, separation pushes from a close neighbour (hand-computed)', () => {
    const params = { ...DEFAULT_FLOCKING, separationWeight: 0, alignmentWeight: 0, cohesionWeight: 0.5, maxSpeed: 10 };
    const v = flockingVelocity({ position: p(0, 0), velocity: p(0, 0) }, [{ position: p(2, 0), velocity: p(0, 0) }], params);
    expect(v).toEqual({ x: 1, y: 0, z: 0 });
    const sep = { ...params, separationWeight: 1, cohesionWeight: 0, separationRadius: 1 };
    const w = flockingVelocity({ position: p(0, 0), velocity: p(0, 0) }, [{ position: p(0.5, 0), velocity: p(0, 0) }], sep);
    // away (-0.5, 0) scaled by (1 - 0.5) / (0.5 * 1) = 1
    expect(w.x).toBeCloseTo(-0.5, 9);
    expect(w.y).toBeCloseTo(0, 9);
  });
  it('alignment matches the neighbours velocity', () => {
    const params = { ...DEFAULT_FLOCKING, separationWeight: 0, cohesionWeight: 0, alignmentWeight: 1, maxSpeed: 10 };
    expect(flockingVelocity({ position: p(0, 0), velocity: p(0, 0) }, [{ position: p(3, 0), velocity: p(0, 2) }], params)).toEqual({ x: 0, y: 2, z: 0 });
  });
});
