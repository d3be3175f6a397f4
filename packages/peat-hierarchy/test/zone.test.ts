// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import { HierarchyMaintainer, ZoneCoordinator, zoneCapabilities } from '../src/index';
import type { ZoneCell } from '../src/index';

const cap = (id: string, capability_type: number, confidence: number): Capability => ({ id, name: id, capability_type, confidence, metadata: {}, registered_at: 0 });
const zc = (cell_id: string, n: number, caps: Capability[] = [], extra: Partial<ZoneCell> = {}): ZoneCell => ({
  cell_id,
  members: Array.from({ length: n }, (_, i) => `${cell_id}-m${i}`),
  max_size: 8,
  capabilities: caps,
  leader: `${cell_id}-m0`,
  platoon_id: null,
  timestamp: 100,
  ...extra,
});

describe('checklist 13: zones', () => {
  it('Ready with ≥ 2 cells, a coordinator and mean fill ≥ 0.5; Degraded when a Ready zone drops below; operations 5 s after', () => {
    const z = new ZoneCoordinator();
    expect(z.update([zc('a', 4), zc('b', 4)], null, 0)).toBe('Forming');
    expect(z.update([zc('a', 4), zc('b', 3)], 'a-m0', 0)).toBe('Forming'); // fill 0.4375
    expect(z.update([zc('a', 4), zc('b', 4)], 'a-m0', 1_000)).toBe('Ready');
    expect(z.canOperate(5_999)).toBe(false);
    expect(z.canOperate(6_000)).toBe(true);
    expect(z.update([zc('a', 4)], 'a-m0', 7_000)).toBe('Degraded');
    expect(z.canOperate(8_000)).toBe(false);
  });

  it('keeps the best capability of each type and adds the three fixed-confidence patterns', () => {
    const two = zoneCapabilities('z', [zc('a', 3, [cap('s1', T.SENSOR, 0.6), cap('p', T.PAYLOAD, 0.7)]), zc('b', 3, [cap('s2', T.SENSOR, 0.8), cap('c', T.COMPUTE, 0.9), cap('m', T.MOBILITY, 0.5), cap('r', T.COMMUNICATION, 0.5)])], 0);
    expect(two.filter((c) => c.capability_type === T.SENSOR).map((c) => c.id)).toEqual(['s2']);
    const emergent = (caps: Capability[]) => Object.fromEntries(caps.filter((c) => c.capability_type === T.EMERGENT).map((c) => [c.name, c.confidence]));
    expect(emergent(two)).toEqual({ 'Enhanced ISR Capability': 0.85, 'Coordinated Strike Package': 0.75 }); // relay needs 3 cells
    const three = zoneCapabilities('z', [zc('a', 3, [cap('m', T.MOBILITY, 0.5)]), zc('b', 3, [cap('r', T.COMMUNICATION, 0.5)]), zc('c', 3)], 0);
    expect(emergent(three)).toEqual({ 'Mobile Relay Network': 0.8 });
    expect(emergent(zoneCapabilities('z', [zc('a', 3, [cap('s', T.SENSOR, 0.9), cap('c', T.COMPUTE, 0.9)])], 0))).toEqual({});
  });
});

describe('checklist 13: rebalancing', () => {
  let n = 0;
  const m = () => new HierarchyMaintainer(3, 10, 2, 8, () => `new-${++n}`);

  it('asserts its bounds', () => {
    expect(() => new HierarchyMaintainer(0, 10, 2, 8)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new HierarchyMaintainer(3, 3, 2, 8)).toThrow();
    expect(() => new HierarchyMaintainer(3, 10, 2, 2)).toThrow();
  });

  it('Merge below the minimum, Split above the maximum', () => {
    expect(m().needsRebalance(zc('a', 2))).toBe('Merge');
    expect(m().needsRebalance(zc('a', 3))).toBe('None');
    expect(m().needsRebalance(zc('a', 11))).toBe('Split');
  });

  it('merge: a new id, united members and capabilities, newer timestamp, first platoon, no leader; the best-fit candidate', () => {
    const h = m();
    const a = zc('a', 2, [cap('x', T.SENSOR, 0.5)], { timestamp: 5, platoon_id: null });
    const b = zc('b', 4, [cap('x', T.SENSOR, 0.5), cap('y', T.COMPUTE, 0.5)], { timestamp: 9, platoon_id: 'p1' });
    const merged = h.merge(a, b);
    expect(merged).toMatchObject({ leader: null, timestamp: 9, platoon_id: 'p1', max_size: 10 });
    expect(merged.cell_id).toMatch(/^new-/);
    expect(merged.members).toHaveLength(6);
    expect(merged.capabilities.map((c) => c.id)).toEqual(['x', 'y']);
    expect(h.mergeCandidate(a, [a, zc('full', 9), zc('mid', 6), zc('low', 3)])!.cell_id).toBe('mid');
    expect(h.metrics.merges).toBe(1);
  });

  it('split: ⌊n/2⌋ and the rest, new ids, all capabilities, no leaders', () => {
    const h = m();
    const [x, y] = h.split(zc('big', 11, [cap('x', T.SENSOR, 0.5)]));
    expect([x.members.length, y.members.length]).toEqual([5, 6]);
    expect(x.cell_id).not.toBe(y.cell_id);
    expect([x.leader, y.leader]).toEqual([null, null]);
    expect(y.capabilities).toHaveLength(1);
    expect(h.metrics).toEqual({ merges: 0, splits: 1, disruptions: 11 });
  });
});
