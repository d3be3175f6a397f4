// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { EventAggregator, WeightedFairQueue } from '../src/index';
import type { EventMode, EventPriority, PeatEvent } from '../src/index';

const ev = (event_type: string, timestamp: number, mode: EventMode = 'Summary', priority: EventPriority = 'NORMAL', source = 'n1'): PeatEvent => ({ event_type, source, priority, mode, timestamp, payload: {} });

describe('checklist 15: events', () => {
  it('summary windows turn many events into one per window and type; Full goes at once', () => {
    const agg = new EventAggregator({ windowMs: (t) => (t === 'contact' ? 1_000 : 3_000) });
    const up: unknown[] = [];
    for (let i = 0; i < 100; i++) up.push(...agg.submit(ev('contact', i * 5, 'Summary', 'NORMAL', `n${i % 4}`)));
    for (let i = 0; i < 100; i++) up.push(...agg.submit(ev('fuel', i * 5)));
    expect(up).toEqual([]);
    up.push(...agg.submit(ev('alarm', 1_000, 'Full', 'HIGH')));
    expect(up).toEqual([
      { event_type: 'contact', count: 100, sources: ['n0', 'n1', 'n2', 'n3'], first: 0, last: 495, priority: 'NORMAL' },
      ev('alarm', 1_000, 'Full', 'HIGH'),
    ]);
    expect(agg.flush(2_999)).toEqual([]); // fuel's window is its own, 3 s
    expect(agg.flush(3_000)).toMatchObject([{ event_type: 'fuel', count: 100 }]);
  });

  it('Query events stay and can be asked for; Local events stay and cannot', () => {
    const agg = new EventAggregator();
    expect(agg.submit(ev('track', 1, 'Query'))).toEqual([]);
    expect(agg.submit(ev('track', 2, 'Local'))).toEqual([]);
    expect(agg.query('track')).toEqual([ev('track', 1, 'Query')]);
    expect(agg.query('track', 2)).toEqual([]);
  });

  it('CRITICAL preempts; the rest share 50/35/15 of what remains, unused HIGH share going to NORMAL', () => {
    const q = new WeightedFairQueue<string>(10_000);
    for (let i = 0; i < 100; i++) for (const p of ['HIGH', 'NORMAL', 'LOW'] as const) q.enqueue(`${p}${i}`, p, 10);
    q.enqueue('crit', 'CRITICAL', 10);
    const sent = q.round(1_000);
    expect(sent[0]).toEqual({ item: 'crit', priority: 'CRITICAL' });
    const count = (p: EventPriority) => sent.filter((s) => s.priority === p).length;
    // 1,000 B minus 10 critical; 90 % of the budget (900 B) shared 50/35/15, NORMAL's 5 B left over carried to LOW, then the rest to the highest waiting
    expect([count('HIGH'), count('NORMAL'), count('LOW')]).toEqual([45 + 9, 31, 14]);
    const idle = new WeightedFairQueue<string>();
    for (let i = 0; i < 100; i++) idle.enqueue(`N${i}`, 'NORMAL', 10);
    for (let i = 0; i < 100; i++) idle.enqueue(`L${i}`, 'LOW', 10);
    const r = idle.round(1_000);
    expect(r.filter((s) => s.priority === 'NORMAL').length).toBeGreaterThan(45 + 31); // HIGH's share went to NORMAL
  });

  it('overflow drops the lowest priority', () => {
    const q = new WeightedFairQueue<string>(3);
    q.enqueue('h', 'HIGH', 1);
    q.enqueue('l', 'LOW', 1);
    q.enqueue('n', 'NORMAL', 1);
    q.enqueue('c', 'CRITICAL', 1);
    expect(q.dropped).toEqual({ CRITICAL: 0, HIGH: 0, NORMAL: 0, LOW: 1 });
    expect(q.round(100).map((x) => x.item)).toEqual(['c', 'h', 'n']);
  });
});
