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

function recorder(net: SimNetwork<string>): string[] {
  const got: string[] = [];
  net.onDeliver((to, m, from) => got.push(`${from}>${to}:${m}`));
  return got;
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

  it('cuts exactly what a partition says: nodes not listed form a group of their own', () => {
    const net = new SimNetwork<string>({ seed: 1, minDelay: 5, maxDelay: 5 });
    const got = recorder(net);
    net.partition([['a', 'b'], ['c']]);
    for (const [from, to] of [['a', 'b'], ['a', 'c'], ['c', 'a'], ['client', 'a'], ['client', 'c'], ['client', 'other'], ['a', 'client']]) {
      net.send(from as string, to as string, 'x');
    }
    net.runUntil(10);
    // the unlisted client and 'other' still talk to each other, and to nobody listed
    expect(got.sort()).toEqual(['a>b:x', 'client>other:x']);
    expect(net.stats.blocked).toBe(5);
  });

  it('isolates single nodes and cuts one way only', () => {
    const net = new SimNetwork<string>({ seed: 1, minDelay: 5, maxDelay: 5 });
    const got = recorder(net);
    net.isolate('leader');
    net.send('leader', 'f1', 'hb');
    net.send('f1', 'f2', 'vote');
    net.runUntil(10);
    expect(got).toEqual(['f1>f2:vote']);
    net.heal();
    got.length = 0;
    net.cutOneWay('a', 'b');
    net.send('a', 'b', 'lost');
    net.send('b', 'a', 'heard');
    net.runUntil(20);
    expect(got).toEqual(['b>a:heard']);
    expect([net.connected('a', 'b'), net.connected('b', 'a')]).toEqual([false, true]);
  });

  it('blocks messages in flight when a partition or a crash happens before delivery', () => {
    const net = new SimNetwork<string>({ seed: 1, minDelay: 5, maxDelay: 5 });
    const got = recorder(net);
    net.send('a', 'b', 'in-flight');
    net.partition([['a'], ['b']]);
    net.runUntil(10);
    net.heal();
    net.send('a', 'b', 'to-crashed');
    net.crash('b');
    net.runUntil(20);
    net.restart('b');
    net.send('a', 'b', 'up');
    net.runUntil(30);
    expect(got).toEqual(['a>b:up']);
    expect(net.stats.blocked).toBe(1);
  });

  it('drops the timers of a crashed incarnation and holds a paused node back, then runs it in order', () => {
    const net = new SimNetwork<string>({ seed: 1, minDelay: 1, maxDelay: 1 });
    const got = recorder(net);
    const fired: string[] = [];
    const old = net.clock('n');
    old.setTimeout(() => fired.push(`old@${net.now}`), 10);
    net.crash('n');
    net.restart('n');
    // the dead process's clock sets no more timers; the new incarnation has its own
    old.setTimeout(() => fired.push('zombie'), 10);
    const clock = net.clock('n');
    clock.setTimeout(() => fired.push(`new@${net.now}`), 10);
    const cancelled = clock.setTimeout(() => fired.push('cancelled'), 5);
    clock.clearTimeout(cancelled);
    net.pause('n', 50);
    net.send('x', 'n', 'm1');
    net.send('x', 'n', 'm2');
    net.runUntil(100);
    expect(fired).toEqual(['new@50']);
    expect(got).toEqual(['x>n:m1', 'x>n:m2']);
    expect(net.stats.deferred).toBe(4); // two deliveries and two timers (one cancelled meanwhile)
  });

  it('runs each node clock at its own rate and steps the wall clock without touching monotonic time', () => {
    const net = new SimNetwork<string>({ seed: 1 });
    net.setClock('fast', { rate: 1.25 });
    const fast = net.clock('fast');
    const normal = net.clock('normal');
    const fired: string[] = [];
    fast.setTimeout(() => fired.push(`fast@${net.now}`), 100);
    normal.setTimeout(() => fired.push(`normal@${net.now}`), 100);
    net.runUntil(200);
    expect(fired).toEqual(['fast@80', 'normal@100']);
    expect(fast.monotonic()).toBe(250);
    expect(normal.monotonic()).toBe(200);
    const wall = normal.now();
    net.jumpClock('normal', -5_000);
    expect(normal.now()).toBe(wall - 5_000);
    expect(normal.monotonic()).toBe(200);
  });

  it('drains promise continuations between events in the async runner', async () => {
    const net = new SimNetwork<string>({ seed: 1, minDelay: 1, maxDelay: 1 });
    const order: string[] = [];
    net.onDeliver((_to, m) => {
      void Promise.resolve()
        .then(() => undefined)
        .then(() => order.push(`${m} continued`));
      order.push(m);
    });
    net.send('a', 'b', 'first');
    net.schedule(1, () => order.push('second event'));
    await net.runUntilAsync(5);
    expect(order).toEqual(['first', 'first continued', 'second event']);
  });
});
