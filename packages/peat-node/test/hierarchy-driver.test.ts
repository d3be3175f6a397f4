// SPDX-License-Identifier: Apache-2.0
// The hierarchy driver on its own, with a one-node host on a virtual clock: what a peer sends is read before it is
// used (malformed items are counted, never thrown), its public calls reject bad input with typed errors, and
// `stop` leaves no timer behind.
import { describe, expect, it } from '@jest/globals';
import { silentLogger } from '@ecps/core';
import { VirtualClock } from '@ecps/peat';
import type { PeatEvent } from '@ecps/peat-hierarchy';
import { HierarchyDriver } from '../src/index';
import type { CellView, HierarchyHost, HierarchyOptions, NodeMessage } from '../src/index';

const event = (priority: PeatEvent['priority']): PeatEvent => ({ event_type: 'contact', source: 'n1', priority, mode: 'Full', timestamp: 0, payload: null });

/** Node `n1`, the leader of cell `c1` with member `n2`, at the top of its hierarchy (no other cell leader heard). */
function driver(cell: CellView | null = { cellId: 'c1', leaderId: 'n1', memberIds: ['n1', 'n2'], sources: () => [] }, options: HierarchyOptions = {}) {
  const clock = new VirtualClock();
  const sent: NodeMessage[] = [];
  const events: unknown[] = [];
  const host: HierarchyHost = { id: 'n1', clock, position: { latitude: 34, longitude: -117, altitude: 0 }, logger: silentLogger, send: (m) => sent.push(m), cell: () => cell };
  const d = new HierarchyDriver(host, { zoneId: 'z1', onEvent: (e) => events.push(e), ...options });
  return { d, clock, sent, events };
}

describe('HierarchyDriver', () => {
  it('a malformed down or up item from a peer is counted as refused and not thrown', () => {
    const { d } = driver();
    const bad: NodeMessage[] = [
      { kind: 'down', to: 'cell:c1', item: { type: 'command' } as never },
      { kind: 'down', to: 'cell:c1', item: { type: 'directive', directive: { directive_id: 'd' } } as never },
      { kind: 'down', to: 'cell:c1', item: { type: 'control', directive_id: 'd' } as never },
      { kind: 'up', to: 'cell:c1', item: { type: 'event' } as never },
      { kind: 'up', to: 'cell:c1', item: { type: 'status', status: null } as never },
      { kind: 'up', to: 'cell:c1', item: { type: 'event', event: { ...event('HIGH'), priority: 'URGENT' } } as never },
    ];
    for (const m of bad) expect(d.receive('n2', m)).toBe(true);
    expect(d.stats.refused).toBe(bad.length);
  });

  it('raise and sendUp reject malformed input with INVALID_ARGUMENT', () => {
    const { d } = driver();
    expect(() => d.raise({ ...event('HIGH'), mode: 'Loud' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => d.sendUp({ type: 'status' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(d.stats.refused).toBe(0);
  });

  it('a command sent down is delivered here once (not again when it comes back), and leaves once on the cell hop', async () => {
    const commands: string[] = [];
    const { d, clock, sent } = driver(undefined, { onCommand: (cmd) => commands.push(cmd.command_id) });
    d.start();
    const command = { command_id: 'k1', originator_id: 'n1', target: { scope: 'BROADCAST', target_ids: [] }, command_type: 'MissionOrder', priority: 'FLASH', issued_at: 0, payload: null } as const;
    d.sendDown({ type: 'command', command });
    expect(d.receive('n1', { kind: 'down', to: 'cell:c1', item: { type: 'command', command } })).toBe(true);
    await clock.run(() => false, 200);
    expect(commands).toEqual(['k1']);
    expect(sent.filter((m) => m.kind === 'down')).toEqual([{ kind: 'down', to: 'cell:c1', item: { type: 'command', command } }]);
    d.stop();
  });

  it('a node that leads nothing cannot send down (CONFLICT)', () => {
    const { d } = driver({ cellId: 'c1', leaderId: 'n2', memberIds: ['n1', 'n2'], sources: () => [] });
    expect(() => d.sendDown({ type: 'control', directive_id: 'd', control: { action: 'rollback', reason: 'x' } as never })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('stop cancels every timer, and nothing is scheduled until start again', async () => {
    const { d, clock } = driver();
    d.start();
    d.start(); // idempotent: one summary window, not two
    expect(clock.pending).toBe(2); // the summary window and a flow round
    await clock.run(() => false, 50);
    expect(clock.pending).toBe(1);
    d.receive('n2', { kind: 'up', to: 'cell:c1', item: { type: 'event', event: event('LOW') } });
    d.stop();
    expect(clock.pending).toBe(0);
    d.receive('n2', { kind: 'up', to: 'cell:c1', item: { type: 'event', event: event('LOW') } });
    expect(clock.pending).toBe(0);
    d.start();
    expect(clock.pending).toBe(2);
    d.stop();
    d.stop();
    expect(clock.pending).toBe(0);
  });
});
