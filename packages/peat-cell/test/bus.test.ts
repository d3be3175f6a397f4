// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '@ecps/peat';
import { CellBus, MessagePriority as P, escalate } from '../src/index';
import type { CellMessage } from '../src/index';

function bus(nodeId = 'a') {
  const clock = new VirtualClock();
  const sent: CellMessage[] = [];
  return { clock, sent, bus: new CellBus({ nodeId, squadId: 'cell-1', clock, send: (m) => sent.push(m) }) };
}
const status = (id: string) => ({ type: 'StatusUpdate' as const, platform_id: id, status: 'ok' });

describe('checklist 6: the cell message bus', () => {
  it('numbers each sender from 1, monotonically, with ids <sender>-<seq>', () => {
    const { bus: b } = bus();
    expect([b.post(status('a')), b.post(status('a'))].map((m) => [m.seq, m.message_id])).toEqual([
      [1, 'a-1'],
      [2, 'a-2'],
    ]);
  });

  it('sends highest priority first, oldest first within a priority', () => {
    const { bus: b, sent } = bus();
    b.post(status('low'), P.Low);
    b.post(status('n1'), P.Normal);
    b.post(status('crit'), P.Critical);
    b.post(status('n2'), P.Normal);
    b.flush();
    expect(sent.map((m) => (m.payload as { platform_id: string }).platform_id)).toEqual(['crit', 'n1', 'n2', 'low']);
  });

  it('drops duplicate, old and expired messages, never reorders', () => {
    const src = bus('s');
    const dst = bus('d');
    const m1 = src.bus.post(status('s'));
    const m2 = src.bus.post(status('s'));
    expect(dst.bus.receive(m2)).toBe(m2);
    expect(dst.bus.receive(m1)).toBeUndefined(); // older than the last seen: dropped, not delivered late
    expect(dst.bus.receive(m2)).toBeUndefined(); // duplicate
    const m3 = src.bus.post(status('s'));
    dst.clock.advance(30_001);
    expect(dst.bus.receive(m3)).toBeUndefined(); // expired
    expect(dst.bus.stats).toMatchObject({ droppedDuplicate: 2, droppedExpired: 1 });
  });

  it('retransmits unacked messages every 2 s, 3 times, then marks them failed; an ack stops it', () => {
    const { bus: b, sent, clock } = bus();
    const lost = b.post(status('a'));
    const acked = b.post(status('a'));
    b.flush();
    expect(sent).toHaveLength(2);
    b.receive({ ...acked, message_id: 'x-1', seq: 1, sender: 'x', payload: { type: 'Ack', message_seq: acked.seq }, timestamp: clock.now() });
    expect(b.state(acked.seq)).toBeUndefined();
    clock.advance(1_999);
    expect(sent).toHaveLength(2);
    clock.advance(1);
    expect(sent).toHaveLength(3);
    expect(b.state(lost.seq)).toBe('sent');
    clock.advance(4_000);
    expect(sent).toHaveLength(5);
    expect(sent.slice(2).every((m) => m.seq === lost.seq)).toBe(true);
    clock.advance(2_000);
    expect(b.state(lost.seq)).toBe('failed');
    clock.advance(10_000);
    expect(sent).toHaveLength(5);
    expect(b.stats).toMatchObject({ retransmitted: 3, failed: 1 });
  });

  it('escalates CellToZone traffic one level (Critical stays); bounded outstanding messages', () => {
    const { bus: b } = bus();
    expect(b.post(status('a'), P.Low, 'CellToZone').priority).toBe(P.Normal);
    expect(b.post(status('a'), P.Normal, 'IntraCell').priority).toBe(P.Normal);
    expect([P.Low, P.Normal, P.High, P.Critical].map(escalate)).toEqual([P.Normal, P.High, P.Critical, P.Critical]);
    const small = new CellBus({ nodeId: 'a', squadId: 'c', clock: new VirtualClock(), send: () => undefined, maxPending: 2 });
    small.post(status('a'));
    small.post(status('a'));
    expect(() => small.post(status('a'))).toThrow(expect.objectContaining({ code: 'QUEUE_FULL' }));
  });
});
