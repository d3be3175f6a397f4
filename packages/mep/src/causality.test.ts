// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ManualClock } from '@ecps/core';
import { CausalContext, HybridLogicalClock, wins, type Versioned } from './causality';
import { flattenToFloat64, normaliseInPlace } from './vector-math';

const v = (nodeId: string, counter: bigint, context: Record<string, bigint>, wallNs: bigint, logical = 0): Versioned => ({
  dot: { nodeId, counter },
  context,
  hlc: { wallNs, logical },
});

describe('causality (spec §7.3)', () => {
  it('a version that has seen another supersedes it whatever the clocks say', () => {
    const older = v('b', 4n, {}, 900n);
    const newer = v('a', 1n, { b: 4n }, 100n);
    expect(wins(newer, older)).toBe(true);
    expect(wins(older, newer)).toBe(false);
    expect(wins(older, older)).toBe(false);
  });

  it('concurrent versions: larger (wall, logical, node id bytes) wins, the same on every replica', () => {
    expect(wins(v('a', 1n, {}, 200n), v('b', 1n, {}, 100n))).toBe(true);
    expect(wins(v('a', 1n, {}, 100n, 2), v('b', 1n, {}, 100n, 1))).toBe(true);
    expect(wins(v('b', 1n, {}, 100n), v('a', 1n, {}, 100n))).toBe(true);
    fc.assert(
      fc.property(fc.bigInt(0n, 5n), fc.nat(3), fc.bigInt(0n, 5n), fc.nat(3), fc.constantFrom('a', 'b', 'é'), fc.constantFrom('c', 'ab', 'e'), (w1, l1, w2, l2, n1, n2) => {
        const x = v(n1, 1n, {}, w1, l1);
        const y = v(n2, 2n, {}, w2, l2);
        expect(wins(x, y)).toBe(!wins(y, x)); // exactly one of two concurrent versions of distinct nodes wins
      }),
    );
    // the same writer at the same clock (an undo made at the instant of a write): the later dot wins
    expect(wins(v('a', 3n, {}, 100n), v('a', 2n, {}, 100n))).toBe(true);
    expect(wins(v('a', 2n, {}, 100n), v('a', 3n, {}, 100n))).toBe(false);
  });

  it('the causal context compacts contiguous dots and keeps gaps visible', () => {
    const ctx = new CausalContext();
    ctx.add({ nodeId: 'a', counter: 1n });
    ctx.add({ nodeId: 'a', counter: 3n });
    expect(ctx.summary()).toEqual({ a: 1n });
    expect(ctx.covers({ nodeId: 'a', counter: 3n })).toBe(true);
    expect(ctx.covers({ nodeId: 'a', counter: 2n })).toBe(false);
    expect(ctx.max('a')).toBe(3n);
    ctx.add({ nodeId: 'a', counter: 2n });
    expect(ctx.summary()).toEqual({ a: 3n });
    ctx.mergeVector({ a: 2n, b: 5n });
    expect(ctx.summary()).toEqual({ a: 3n, b: 5n });
  });

  it('the hybrid clock never goes backwards and orders after what it received', () => {
    const clock = new ManualClock(1000);
    const hlc = new HybridLogicalClock(clock);
    const t1 = hlc.tick();
    const t2 = hlc.tick();
    expect(t2).toEqual({ wallNs: t1.wallNs, logical: 1 });
    hlc.observe({ wallNs: t1.wallNs + 10n, logical: 7 });
    expect(hlc.tick()).toEqual({ wallNs: t1.wallNs + 10n, logical: 9 });
    clock.set(0); // wall clock stepped back
    expect(hlc.tick().wallNs).toBe(t1.wallNs + 10n);
  });
});

describe('flatten and normalise (spec §7.2)', () => {
  it('reads every dtype as float64 and leaves zero vectors zero', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer); // 1, -2
    expect(Array.from(flattenToFloat64({ bytes: f16, dtype: 'f16', shape: [2] }))).toEqual([1, -2]);
    const i64 = new Uint8Array(new BigInt64Array([-3n, 4n]).buffer);
    expect(Array.from(normaliseInPlace(flattenToFloat64({ bytes: i64, dtype: 'i64', shape: [2] })))).toEqual([-0.6, 0.8]);
    expect(Array.from(flattenToFloat64({ bytes: Uint8Array.of(0, 7), dtype: 'bool', shape: [2] }))).toEqual([0, 1]);
    expect(Array.from(normaliseInPlace(new Float64Array(3)))).toEqual([0, 0, 0]);
    expect(Array.from(normaliseInPlace(Float64Array.of(Number.NaN, 1)))).toEqual([0, 0]);
  });
});
