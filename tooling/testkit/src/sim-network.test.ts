// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { SimNetwork } from './sim-network';

function run(seed: number): string[] {
  const net = new SimNetwork<number>({ seed, dropRate: 0.2, duplicateRate: 0.2, minDelay: 1, maxDelay: 30 });
  const log: string[] = [];
  net.onDeliver((to, m, from) => log.push(`${net.now}:${from}->${to}:${m}`));
  for (let i = 0; i < 50; i++) net.send('a', 'b', i);
  net.runUntil(1000);
  return log;
}

describe('SimNetwork', () => {
  it('replays exactly for a seed and differs across seeds', () => {
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('drops, duplicates and reorders', () => {
    const log = run(3);
    const payloads = log.map((l) => Number(l.split(':').at(-1)));
    expect(payloads.length).toBeLessThan(60);
    expect(new Set(payloads).size).toBeLessThan(50);
    expect(new Set(payloads).size).toBeLessThan(payloads.length);
    expect(payloads).not.toEqual([...payloads].sort((x, y) => x - y));
  });

  it('blocks messages across partitions and to crashed nodes, also those in flight', () => {
    const net = new SimNetwork<string>({ seed: 1, minDelay: 5, maxDelay: 5 });
    const got: string[] = [];
    net.onDeliver((_to, m) => got.push(m));
    net.send('a', 'b', 'before');
    net.partition([['a'], ['b']]);
    net.send('a', 'b', 'during');
    net.send('client', 'b', 'client');
    net.runUntil(10);
    net.heal();
    net.crash('b');
    net.send('a', 'b', 'down');
    net.runUntil(20);
    net.restart('b');
    net.send('a', 'b', 'up');
    net.runUntil(30);
    expect(got).toEqual(['client', 'up']);
    expect(net.stats.blocked).toBe(3);
  });
});
