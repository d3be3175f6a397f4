// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CELL_FLOW, FlowController, LwwMap, RoutingTable, TokenBucket } from '../src/index';

describe('checklist 12: routing', () => {
  it('LWW: assignment needs a strictly newer timestamp, removal newer-or-equal; ties go to the greater writer', () => {
    const m = new LwwMap();
    expect(m.assign('n1', 'c1', 10, 'w1')).toBe(true);
    expect(m.assign('n1', 'c2', 9, 'w9')).toBe(false);
    expect(m.assign('n1', 'c2', 10, 'w0')).toBe(false);
    expect(m.assign('n1', 'c2', 10, 'w2')).toBe(true);
    expect(m.get('n1')).toBe('c2');
    expect(m.remove('n1', 10, 'w0')).toBe(true);
    expect(m.get('n1')).toBeUndefined();
    expect(m.assign('n1', 'c3', 10, 'w9')).toBe(false);
    expect(m.assign('n1', 'c3', 11, 'w0')).toBe(true);
  });

  it('merge converges in any order', () => {
    const a = new LwwMap();
    const b = new LwwMap();
    a.assign('n1', 'c1', 5, 'a');
    b.assign('n1', 'c2', 5, 'b');
    b.assign('n2', 'c2', 7, 'b');
    a.remove('n2', 7, 'a');
    const ab = new LwwMap();
    ab.merge(a);
    ab.merge(b);
    const ba = new LwwMap();
    ba.merge(b);
    ba.merge(a);
    for (const m of [ab, ba]) {
      expect(m.get('n1')).toBe('c2');
      expect(m.get('n2')).toBeUndefined();
    }
  });

  it('the router: same cell allowed, cross-cell denied, upward only from leaders; valid targets', () => {
    const r = new RoutingTable();
    for (const [n, c] of [['a1', 'A'], ['a2', 'A'], ['b1', 'B']]) r.nodeCell.assign(n!, c!, 1, 'x');
    r.cellLeader.assign('A', 'a1', 1, 'x');
    r.cellZone.assign('A', 'z1', 1, 'x');
    r.cellZone.assign('B', 'z1', 1, 'x');
    expect(r.allows('a2', 'a1')).toBe(true);
    expect(r.allows('a2', 'b1')).toBe(false);
    expect(r.allows('ghost', 'a1')).toBe(false);
    expect(r.allows('a1', 'zone:z1')).toBe(true);
    expect(r.allows('a2', 'zone:z1')).toBe(false);
    expect(r.allows('a1', 'A')).toBe(true);
    expect(r.allows('a2', 'A')).toBe(false);
    expect(r.targets('a1')).toEqual(['a2', 'zone:z1']);
    expect(r.targets('a2')).toEqual(['a1']);
  });
});

describe('checklist 12: flow control', () => {
  it('token buckets refill continuously and cap at one second', () => {
    const b = new TokenBucket(100, 0);
    let n = 0;
    while (b.take(1, 0)) n++;
    expect(n).toBe(100);
    expect(b.take(1, 5)).toBe(false);
    expect(b.take(1, 10)).toBe(true);
    expect(b.take(50, 10_000)).toBe(true);
    expect(b.take(51, 10_000)).toBe(false);
  });

  it('the cell limits pass 100 messages and 100 KB per second', () => {
    const f = new FlowController<number>(CELL_FLOW, 0, 'NeverDrop', 10_000);
    for (let i = 0; i < 300; i++) f.offer({ item: i, priority: 1, bytes: 100 });
    expect(f.drain(0)).toHaveLength(100);
    expect(f.drain(500)).toHaveLength(50);
    const big = new FlowController<number>(CELL_FLOW, 0);
    for (let i = 0; i < 5; i++) big.offer({ item: i, priority: 1, bytes: 40_000 });
    expect(big.drain(0)).toHaveLength(2);
    // a message the byte bucket refuses spends no message token: polling while bytes refill costs nothing
    const mixed = new FlowController<number>({ messagesPerSecond: 2, bytesPerSecond: 100 }, 0);
    mixed.offer({ item: 1, priority: 1, bytes: 90 });
    mixed.offer({ item: 2, priority: 1, bytes: 90 });
    expect(mixed.drain(0)).toEqual([1]);
    const sent: number[] = [];
    for (let t = 100; t <= 800 && sent.length === 0; t += 100) sent.push(...mixed.drain(t));
    expect(sent).toEqual([2]); // bytes are back at 800 ms, and so must the message token be
  });

  it('drop policies: low priority first; oldest; never (throws), with a backpressure flag', () => {
    const low = new FlowController<string>(CELL_FLOW, 0, 'DropLowPriority', 2);
    low.offer({ item: 'normal', priority: 1, bytes: 1 });
    low.offer({ item: 'low', priority: 0, bytes: 1 });
    expect(low.backpressure).toBe(true);
    expect(low.offer({ item: 'high', priority: 2, bytes: 1 })!.item).toBe('low');
    expect(low.offer({ item: 'high2', priority: 2, bytes: 1 })!.item).toBe('normal');
    expect(low.offer({ item: 'low2', priority: 0, bytes: 1 })!.item).toBe('low2'); // nothing lower queued: the newcomer goes
    expect(low.drain(0)).toEqual(['high', 'high2']);
    const old = new FlowController<string>(CELL_FLOW, 0, 'DropOldest', 2);
    old.offer({ item: 'a', priority: 3, bytes: 1 });
    old.offer({ item: 'b', priority: 0, bytes: 1 });
    expect(old.offer({ item: 'c', priority: 0, bytes: 1 })!.item).toBe('a');
    const never = new FlowController<string>(CELL_FLOW, 0, 'NeverDrop', 1);
    never.offer({ item: 'a', priority: 0, bytes: 1 });
    expect(() => never.offer({ item: 'b', priority: 3, bytes: 1 })).toThrow(expect.objectContaining({ code: 'QUEUE_FULL' }));
  });
});
