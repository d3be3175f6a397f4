// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { BeaconTable, BootstrapCoordinator, assertCanEnterCell, checkAssignment, clusterBeacons, geohashOf, isBeaconExpired } from '../src/index';
import type { AssignmentContext, CellAssignment } from '../src/index';
import { beacon } from './fixtures';

const T0 = 1_750_000_000_000;

describe('checklist 1: discovery', () => {
  it('uses geohash precision 7 (and 5/4 by argument); rejects out-of-range positions', () => {
    expect(geohashOf({ latitude: 57.64911, longitude: 10.40744 })).toBe('u4pruyd');
    expect(geohashOf({ latitude: 57.64911, longitude: 10.40744 }, 5)).toBe('u4pru');
    expect(() => geohashOf({ latitude: 91, longitude: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('a beacon expires only when more than 30 s old', () => {
    expect(isBeaconExpired({ timestamp: T0 }, T0 + 30_000)).toBe(false);
    expect(isBeaconExpired({ timestamp: T0 }, T0 + 30_001)).toBe(true);
  });

  it('clusters share a geohash; the lowest id initiates; proposed members are sorted and truncated; a lone node is not formable', () => {
    const bs = ['n6', 'n3', 'n1', 'n5', 'n2', 'n4'].map((id, i) => beacon(id, 34.0 + i * 0.00001, -117.0, T0));
    bs.push(beacon('far', 35.5, -117.0, T0));
    const clusters = clusterBeacons(bs, T0, { maxSize: 5 });
    expect(clusters).toHaveLength(2);
    const main = clusters.find((c) => c.members.length === 6)!;
    expect(main.initiator).toBe('n1');
    expect(main.proposed).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(main.formable).toBe(true);
    expect(clusters.find((c) => c.members[0] === 'far')!.formable).toBe(false);
  });

  it('empty clusters vanish when their beacons expire; the table keeps the newest beacon and sweeps expired ones', () => {
    const table = new BeaconTable();
    expect(table.upsert(beacon('a', 34, -117, T0))).toBe(true);
    expect(table.upsert(beacon('b', 34, -117, T0 + 20_000))).toBe(true);
    expect(table.upsert(beacon('a', 34, -117, T0 - 1))).toBe(false); // older: ignored
    expect(table.clusters(T0 + 25_000)[0]!.members).toEqual(['a', 'b']);
    expect(table.clusters(T0 + 31_000)[0]!.members).toEqual(['b']);
    expect(table.clusters(T0 + 51_000)).toEqual([]);
    expect(table.sweep(T0 + 31_000)).toEqual(['a']);
    expect(table.size).toBe(1);
  });

  it('the table is bounded: the oldest beacon goes first', () => {
    const table = new BeaconTable(3);
    for (let i = 0; i < 5; i++) table.upsert(beacon(`n${i}`, 34, -117, T0 + i));
    expect([...table.values()].map((b) => b.platform_id).sort()).toEqual(['n2', 'n3', 'n4']);
  });
});

describe('checklist 2: directed assignment', () => {
  const a: CellAssignment = {
    assignment_id: 'as-1',
    squad_id: 'cell-1',
    platform_ids: ['n2', 'n9'],
    issued_by: 'c2',
    timestamp: T0,
    priority: 'Normal',
    status: { type: 'Pending' },
  };
  const base: AssignmentContext = {
    nodeId: 'n2',
    now: T0 + 1_000,
    cell: (id) => (id === 'cell-1' ? { members: ['n1', 'n3'], max_size: 3 } : undefined),
    currentCell: null,
    issuerIsCommander: true,
  };
  const reason = (ctx: Partial<AssignmentContext>, as: Partial<CellAssignment> = {}) => {
    const r = checkAssignment({ ...a, ...as }, { ...base, ...ctx });
    return r.type === 'rejected' ? r.reason.type : r.type;
  };

  it('is ignored unless it lists the node; empty lists are Invalid; only a Commander may issue', () => {
    expect(reason({ nodeId: 'n7' })).toBe('ignored');
    expect(reason({}, { platform_ids: [] })).toBe('Invalid');
    expect(reason({ issuerIsCommander: false })).toBe('Unauthorized');
  });

  it('rejects in the order Expired, SquadNotFound, SquadFull, PlatformAlreadyAssigned', () => {
    const expired = { now: T0 + 300_001 };
    const missing = { cell: () => undefined };
    const full = { cell: () => ({ members: ['x', 'y', 'z'], max_size: 3 }) };
    const taken = { currentCell: 'cell-9' };
    expect(reason({ ...expired, ...missing, ...taken })).toBe('Expired');
    expect(reason({ now: T0 + 300_000 })).toBe('accepted'); // exactly 300 s is still valid
    expect(reason({ ...missing, ...taken })).toBe('SquadNotFound');
    expect(reason({ ...full, ...taken })).toBe('SquadFull');
    const r = checkAssignment(a, { ...base, ...taken });
    expect(r).toEqual({ type: 'rejected', reason: { type: 'PlatformAlreadyAssigned', current_squad: 'cell-9' } });
  });

  it('success adds the member and marks the assignment Completed', () => {
    const r = checkAssignment(a, base);
    expect(r.type).toBe('accepted');
    if (r.type !== 'accepted') return;
    expect(r.members).toEqual(['n1', 'n2', 'n3']);
    expect(r.assignment.status).toEqual({ type: 'Completed' });
  });
});

describe('checklist 4: bootstrap', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`);
  function runTo(assigned: number, total: number) {
    const b = new BootstrapCoordinator();
    b.start(ids(total), T0);
    for (let i = 0; i < assigned; i++) b.markAssigned(`p${i}`);
    return b;
  }

  it('completes when every platform is assigned', () => {
    const b = runTo(3, 3);
    expect(b.status).toBe('Completed');
    expect(b.succeeded).toBe(true);
  });

  it('at the 60 s timeout: > 0.9 Completed, > 0.5 PartiallyCompleted, otherwise Failed', () => {
    const cases: [number, number, string][] = [
      [19, 20, 'Completed'], // 0.95
      [9, 10, 'PartiallyCompleted'], // exactly 0.9 is not above 0.9
      [6, 10, 'PartiallyCompleted'],
      [5, 10, 'Failed'], // exactly 0.5
    ];
    for (const [n, total, want] of cases) {
      const b = runTo(n, total);
      expect(b.tick(T0 + 59_999)).toBe('InProgress');
      expect(b.tick(T0 + 60_000)).toBe(want);
    }
  });

  it('illegal transitions throw, and so does reset_for_retry while InProgress', () => {
    const b = new BootstrapCoordinator();
    expect(() => b.markAssigned('p0')).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => b.forceComplete()).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    b.start(ids(4), T0);
    expect(() => b.start(ids(4), T0)).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => b.resetForRetry()).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    b.forceComplete();
    expect(b.status).toBe('Completed');
    b.resetForRetry();
    expect(b.status).toBe('NotStarted');
  });

  it('Discovery → Cell only from Discovery and not while InProgress', () => {
    expect(() => assertCanEnterCell(1, 'Completed')).not.toThrow();
    expect(() => assertCanEnterCell(1, 'InProgress')).toThrow();
    try {
      assertCanEnterCell(2, 'Completed');
      throw new Error('expected a throw');
    } catch (e) {
      expect(isEcpsError(e, 'CONFLICT')).toBe(true);
    }
  });
});
