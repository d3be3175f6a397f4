// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T, Health } from '@ecps/peat';
import { CellMembership, assessCell, assignRoles, chooseRole, decideApproval, roleFitness } from '../src/index';
import type { CellRole, CellState, LeaderRecord } from '../src/index';
import { cap, config, operator } from './fixtures';

const ok: { health: number; fuel_minutes: number } = { health: Health.NOMINAL, fuel_minutes: 100 };

describe('checklist 8: role assignment', () => {
  const plain = { config: config('x', [cap(T.SENSOR, 0.8), cap(T.COMMUNICATION, 0.9)]), state: ok };
  const withOp = { config: config('x', [cap(T.SENSOR, 0.8), cap(T.COMMUNICATION, 0.9)], [operator({ mos: '19D' })]), state: ok };

  it('no operator: Sensor 0.885714, Relay 0.9 → Relay (Follower would score 1.0, Support 0.857143)', () => {
    expect(roleFitness(plain, 'Sensor')).toBeCloseTo(0.885714, 6);
    expect(roleFitness(plain, 'Relay')).toBeCloseTo(0.9, 9);
    expect(roleFitness(plain, 'Follower')).toBeCloseTo(1, 9);
    expect(roleFitness(plain, 'Support')).toBeCloseTo(0.857143, 6);
    expect(chooseRole(plain, false)).toEqual({ role: 'Relay', score: expect.closeTo(0.9, 9) });
  });

  it('with a MOS-19D operator: Sensor 0.89, Relay 0.72 → Sensor', () => {
    expect(roleFitness(withOp, 'Sensor')).toBeCloseTo(0.89, 9);
    expect(roleFitness(withOp, 'Relay')).toBeCloseTo(0.72, 9);
    expect(chooseRole(withOp, false).role).toBe('Sensor');
  });

  it('a missing required type makes a node ineligible; the leader gets Leader; no specialist → Support with MOBILITY, else Follower', () => {
    expect(roleFitness(plain, 'Strike')).toBe(0);
    expect(chooseRole(plain, true).role).toBe('Leader');
    expect(chooseRole({ config: config('m', [cap(T.MOBILITY, 0.9)]), state: ok }, false).role).toBe('Support');
    expect(chooseRole({ config: config('e', []), state: ok }, false).role).toBe('Follower');
    // ties break Sensor, Compute, Relay, Strike
    expect(chooseRole({ config: config('t', [cap(T.SENSOR, 0.8), cap(T.COMPUTE, 0.8)]), state: ok }, false).role).toBe('Sensor');
    const roles = assignRoles(new Map([['b', plain], ['a', withOp]]), 'b');
    expect([...roles].map(([id, r]) => [id, r.role])).toEqual([
      ['b', 'Leader'],
      ['a', 'Sensor'],
    ]);
  });
});

function cell(
  members: [string, ReturnType<typeof config>, CellRole | null, typeof ok?][],
  leader: LeaderRecord | null,
  approval: CellState['approval'] = null,
): CellState {
  return {
    cell_id: 'c1',
    max_size: 8,
    members: new Map(members.map(([id, cfg, role, state]) => [id, { node_id: id, config: cfg, state: state ?? ok, role }])),
    leader,
    approval,
  };
}
const lead = (node_id: string, autonomous = false): LeaderRecord => ({ node_id, round: 1, score_q: 5000, autonomous });
const sup = [operator({ authority_level: 'Supervisor' })];
const sensors = (n: number, conf = 0.8) => Array.from({ length: n }, () => cap(T.SENSOR, conf));

describe('checklist 10: CellCoordinator check order and messages', () => {
  const good = (): [string, ReturnType<typeof config>, CellRole | null][] => [
    ['a', config('a', [cap(T.COMMUNICATION, 0.9)], sup), 'Leader'],
    ['b', config('b', sensors(1)), 'Sensor'],
    ['c', config('c', sensors(1)), 'Sensor'],
  ];

  it('(1) too few members → Failed("Insufficient members"), before anything else', () => {
    expect(assessCell(cell(good().slice(0, 2), null)).status).toEqual({ type: 'Failed', reason: 'Insufficient members' });
  });
  it('(2) no leader → Forming; (3) a member without a role → Forming', () => {
    expect(assessCell(cell(good(), null)).status.type).toBe('Forming');
    const m = good();
    m[2]![2] = null;
    expect(assessCell(cell(m, lead('a'))).status.type).toBe('Forming');
  });
  it('(4) a gap → Failed("Missing required capabilities"): without a supervisor, communications need oversight', () => {
    const m = good();
    m[0]![1] = config('a', [cap(T.COMMUNICATION, 0.9)]);
    const r = assessCell(cell(m, lead('a')));
    expect(r.status).toEqual({ type: 'Failed', reason: 'Missing required capabilities' });
    expect(r.aggregation!.gaps).toEqual([T.COMMUNICATION]);
  });
  it('(5) readiness below 0.7 → Failed("Insufficient readiness")', () => {
    const m = good();
    m.push(['d', config('d', [cap(T.COMPUTE, 0.2)]), 'Compute']);
    m.push(['e', config('e', [cap(T.MOBILITY, 0.1)]), 'Support']);
    m.push(['f', config('f', [cap(T.COMPUTE, 0.1)]), 'Compute']);
    expect(assessCell(cell(m, lead('a'))).status).toEqual({ type: 'Failed', reason: 'Insufficient readiness' });
  });
  it('(6) an autonomous leader → AwaitingApproval until approved; (7) Ready', () => {
    expect(assessCell(cell(good(), lead('a', true))).status.type).toBe('AwaitingApproval');
    expect(assessCell(cell(good(), lead('a', true), { approved_by: 'cdr', approved_at: 1 })).status.type).toBe('Ready');
    expect(assessCell(cell(good(), lead('a'))).status.type).toBe('Ready');
  });
  it('(6) an oversight-requiring capability (a payload under a Supervisor) → AwaitingApproval', () => {
    const m = good();
    m[0]![1] = config('a', [cap(T.COMMUNICATION, 0.9), cap(T.PAYLOAD, 0.9)], sup);
    const r = assessCell(cell(m, lead('a')));
    expect(r.status.type).toBe('AwaitingApproval');
    expect(r.aggregation!.oversight_required).toEqual([T.PAYLOAD]);
  });
  it('non-operational members contribute nothing', () => {
    const m: [string, ReturnType<typeof config>, CellRole | null, typeof ok?][] = good();
    m[1]![3] = { health: Health.FAILED, fuel_minutes: 100 };
    m[2]![3] = { health: Health.NOMINAL, fuel_minutes: 0 };
    expect(assessCell(cell(m, lead('a'))).status).toEqual({ type: 'Failed', reason: 'Missing required capabilities' });
  });
});

describe('checklist 9: approval only from AwaitingApproval', () => {
  it('approve stores who and when; reject stores nothing; anything else throws', () => {
    const waiting = { type: 'AwaitingApproval' } as const;
    expect(decideApproval(waiting, { approve: true, by: 'cdr', at: 5, canApproveFormation: true })).toEqual({ approved_by: 'cdr', approved_at: 5 });
    expect(decideApproval(waiting, { approve: false, by: 'cdr', at: 5, canApproveFormation: true })).toBeNull();
    expect(() => decideApproval({ type: 'Ready' }, { approve: true, by: 'cdr', at: 5, canApproveFormation: true })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => decideApproval({ type: 'Forming' }, { approve: false, by: 'cdr', at: 5, canApproveFormation: true })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => decideApproval(waiting, { approve: true, by: 'pvt', at: 5, canApproveFormation: false })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
  });
});

describe('checklist 10: the cell model', () => {
  it('add/remove, full and valid; the leader must be a member; removing the leader clears it', () => {
    const c = new CellMembership('c1', 3, 2);
    expect(c.add('a')).toBe(true);
    expect(c.add('a')).toBe(false);
    expect(c.isValid).toBe(false);
    c.add('b');
    expect(c.isValid).toBe(true);
    c.add('c');
    expect(c.isFull).toBe(true);
    expect(() => c.add('d')).toThrow(expect.objectContaining({ code: 'RESOURCE_EXHAUSTED' }));
    expect(() => c.setLeader('zz')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    c.setLeader('b');
    c.remove('b');
    expect(c.leader).toBeNull();
    expect(c.members).toEqual(['a', 'c']);
    expect(() => new CellMembership('x', 1, 2)).toThrow();
  });
});
