// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { ReplayGuard } from './replay-guard';

const ns = (ms: number) => BigInt(ms) * 1_000_000n;
const nonce = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? n & 0xff : i === 1 ? n >> 8 : 0));

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('ReplayGuard', () => {
  it('bounds timestamp skew both ways at 300 s', () => {
    const clock = new ManualClock(1_000_000_000);
    const guard = new ReplayGuard({ clock });
    expect(codeOf(() => guard.check('s', nonce(1), ns(clock.now() - 300_000)))).toBeUndefined();
    expect(codeOf(() => guard.check('s', nonce(2), ns(clock.now() + 300_000)))).toBeUndefined();
    expect(codeOf(() => guard.check('s', nonce(3), ns(clock.now() - 300_001)))).toBe('STALE_MESSAGE');
    expect(codeOf(() => guard.check('s', nonce(4), ns(clock.now() + 300_001)))).toBe('STALE_MESSAGE');
  });

  it('rejects a repeated (sender, nonce) but not the same nonce from another sender', () => {
    const clock = new ManualClock(1_000_000_000);
    const guard = new ReplayGuard({ clock });
    guard.check('a', nonce(1), ns(clock.now()));
    expect(codeOf(() => guard.check('a', nonce(1), ns(clock.now())))).toBe('REPLAY_DETECTED');
    expect(codeOf(() => guard.check('b', nonce(1), ns(clock.now())))).toBeUndefined();
    expect(codeOf(() => guard.check('a', new Uint8Array(4), ns(clock.now())))).toBe('REPLAY_DETECTED');
  });

  it('stays sound when it forgets: evicted nonces raise the floor, forgotten senders restart above it', () => {
    const clock = new ManualClock(1_000_000_000);
    const guard = new ReplayGuard({ clock, maxNoncesPerSender: 3, maxSenders: 2 });
    const t0 = clock.now();
    for (let i = 0; i < 5; i++) guard.check('a', nonce(i), ns(t0 + i));
    // nonces 0 and 1 were evicted: anything at or below t0+1 is refused, newer reorderings pass
    expect(codeOf(() => guard.check('a', nonce(100), ns(t0 + 1)))).toBe('REPLAY_DETECTED');
    expect(codeOf(() => guard.check('a', nonce(101), ns(t0 + 2)))).toBeUndefined();
    clock.advance(10);
    guard.check('b', nonce(1), ns(clock.now()));
    guard.check('c', nonce(1), ns(clock.now())); // forgets a
    expect(codeOf(() => guard.check('a', nonce(3), ns(t0 + 3)))).toBe('REPLAY_DETECTED');
    clock.advance(1);
    expect(codeOf(() => guard.check('a', nonce(200), ns(clock.now())))).toBeUndefined();
  });
});
