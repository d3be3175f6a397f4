import { describe, expect, it } from '@jest/globals';
import { tensorFromBytes } from '../src/index';

describe('tensorFromBytes alignment', () => {
  it('reads f32/f64 data from a Node Buffer at an unaligned offset (Buffer#slice is a view, not a copy)', () => {
    const pool = Buffer.alloc(64);
    const values = new Float64Array([1.5, -2.25]);
    const unaligned = pool.subarray(3, 3 + 16);
    unaligned.set(new Uint8Array(values.buffer));
    expect(tensorFromBytes('f64', [2], unaligned).data).toEqual(values);
    const f32 = new Float32Array([0.5, 7]);
    const u32 = pool.subarray(1, 9);
    u32.set(new Uint8Array(f32.buffer));
    expect(tensorFromBytes('f32', [2], u32).data).toEqual(f32);
  });
});
