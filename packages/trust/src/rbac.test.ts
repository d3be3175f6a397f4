// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ManualClock, isEcpsError } from '@ecps/core';
import { DEFAULT_ROLES, Rbac, isAllowed, permissionCandidates, splitPermission, type Principal } from './rbac';

const base = (over: Partial<Principal> = {}): Principal => ({ id: 'p', kind: 'user', roles: [], ...over });

describe('RBAC (spec §10)', () => {
  it('grants the default roles their permissions and nothing else', () => {
    const op = base({ roles: ['robot_operator'] });
    expect(isAllowed(op, 'move', 'robot')).toBe(true);
    expect(isAllowed(op, 'grip', 'gripper')).toBe(true);
    expect(isAllowed(op, 'configure', 'robot')).toBe(false);
    const admin = base({ roles: ['robot_admin'] });
    expect(isAllowed(admin, 'update', 'firmware')).toBe(true);
    expect(isAllowed(admin, 'delete', 'fleet')).toBe(false);
    expect(isAllowed(base({ roles: ['system_admin'] }), 'delete', 'fleet')).toBe(true);
    expect(isAllowed(base({ roles: ['no_such_role'] }), 'move', 'robot')).toBe(false);
  });

  it('lets the most specific direct permission decide, false being an explicit deny over any role', () => {
    const p = base({ roles: ['system_admin'], permissions: { 'update:firmware': false, 'update:*': true } });
    expect(isAllowed(p, 'update', 'firmware')).toBe(false);
    expect(isAllowed(p, 'update', 'robot')).toBe(true);
    const q = base({ permissions: { '*:camera': true, 'read:*': false } });
    expect(isAllowed(q, 'read', 'camera')).toBe(false); // a:* comes before *:r
    expect(isAllowed(q, 'write', 'camera')).toBe(true);
  });

  it('splits at the first colon', () => {
    expect(splitPermission('read:topic:a/b')).toEqual({ action: 'read', resource: 'topic:a/b' });
    expect(() => splitPermission('nocolon')).toThrow();
  });

  it('denies everything to an expired principal and unknown principals', () => {
    const clock = new ManualClock(1000);
    const rbac = new Rbac({ clock, principals: [base({ id: 'x', roles: ['system_admin'], expiresAt: 2000 })] });
    expect(rbac.can('x', 'move', 'robot')).toBe(true);
    clock.advance(1000);
    expect(rbac.can('x', 'move', 'robot')).toBe(false);
    expect(rbac.can('nobody', 'move', 'robot')).toBe(false);
    let caught: unknown;
    try {
      rbac.check('x', 'move', 'robot');
    } catch (e) {
      caught = e;
    }
    expect(isEcpsError(caught, 'PERMISSION_DENIED')).toBe(true);
  });

  const token = fc.constantFrom('move', 'grip', 'robot', 'gripper', 'cam', '*');
  const perm = fc.tuple(token, token).map(([a, r]) => `${a}:${r}`);
  const grants = fc.dictionary(perm, fc.boolean(), { maxKeys: 6 });
  const roleTable = fc.dictionary(fc.constantFrom('r1', 'r2', 'r3'), grants, { maxKeys: 3 });
  const request = fc.tuple(fc.constantFrom('move', 'grip', 'cam', 'x'), fc.constantFrom('robot', 'gripper', 'cam', 'y'));

  it('never grants what no direct or role grant implies (property)', () => {
    fc.assert(
      fc.property(roleTable, grants, fc.subarray(['r1', 'r2', 'r3', 'robot_operator']), request, (roles, direct, held, [a, r]) => {
        const p = base({ roles: held, permissions: direct });
        const allowed = isAllowed(p, a, r, { roles: { ...DEFAULT_ROLES, ...roles } });
        const candidates = permissionCandidates(a, r);
        const directHit = candidates.find((c) => c in direct);
        const implied =
          directHit !== undefined
            ? direct[directHit] === true
            : held.some((role) => candidates.some((c) => ({ ...DEFAULT_ROLES, ...roles })[role]?.[c] === true));
        expect(allowed).toBe(implied);
        if (allowed) expect(candidates.some((c) => direct[c] === true || held.some((h) => ({ ...DEFAULT_ROLES, ...roles })[h]?.[c] === true))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('gives an expired principal nothing, whatever it holds (property)', () => {
    fc.assert(
      fc.property(roleTable, grants, request, fc.integer({ min: 0, max: 10_000 }), (roles, direct, [a, r], past) => {
        const p = base({ roles: ['r1', 'r2', 'r3', 'system_admin'], permissions: direct, expiresAt: 50_000 - past });
        expect(isAllowed(p, a, r, { roles: { ...DEFAULT_ROLES, ...roles }, now: 50_000 })).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
