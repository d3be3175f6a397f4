// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { NetworkPartition } from './partition';

describe('NetworkPartition', () => {
  it('splits, isolates, blocks one way and heals', () => {
    const net = new NetworkPartition();
    expect(net.canReach('a', 'b')).toBe(true);
    net.split(['a', 'b'], ['c']);
    expect([net.canReach('a', 'b'), net.canReach('a', 'c'), net.canReach('c', 'd')]).toEqual([true, false, false]);
    net.heal();
    net.isolate('c');
    expect([net.canReach('a', 'b'), net.canReach('c', 'a'), net.canReach('c', 'c')]).toEqual([true, false, true]);
    net.heal();
    net.block('b', 'a');
    expect([net.canReach('b', 'a'), net.canReach('a', 'b')]).toEqual([false, true]);
  });
});
