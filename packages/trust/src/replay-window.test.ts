// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ReplayWindow } from './replay-window';

function accept(w: ReplayWindow, seq: number): boolean {
  try {
    w.check(seq);
  } catch {
    return false;
  }
  w.commit(seq);
  return true;
}

describe('ReplayWindow', () => {
  it('accepts each counter once, in any order within the window', () => {
    const w = new ReplayWindow(64);
    expect([5, 3, 4, 0, 70, 69, 7].map((s) => accept(w, s))).toEqual([true, true, true, true, true, true, true]);
    expect(() => w.check(70)).toThrow(expect.objectContaining({ code: 'REPLAY_DETECTED', details: expect.objectContaining({ reason: 'duplicate' }) }));
    expect(() => w.check(7)).toThrow(expect.objectContaining({ code: 'REPLAY_DETECTED', details: expect.objectContaining({ reason: 'duplicate' }) }));
    expect(() => w.check(6)).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'below-window' }) }));
    expect(accept(w, 8)).toBe(true); // 70 - 64 < 8: still inside, never seen
  });

  it('does not remember a counter that was only checked (a forged message burns nothing)', () => {
    const w = new ReplayWindow(32);
    w.check(10);
    expect(accept(w, 10)).toBe(true);
  });

  it('refuses sizes outside its bounds', () => {
    expect(() => new ReplayWindow(8)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('property: matches a set-based model for any arrival order', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(300), { maxLength: 400 }), (arrivals) => {
        const size = 32;
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let highest = -1;
        for (const seq of arrivals) {
          const expected = !seen.has(seq) && seq > highest - size;
          expect(accept(w, seq)).toBe(expected);
          if (expected) {
            seen.add(seq);
            highest = Math.max(highest, seq);
          }
        }
      }),
    );
  });
});
