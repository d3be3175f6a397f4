// SPDX-License-Identifier: Apache-2.0
// Principals and role-based access control over `action:resource` permissions with the spec §10 wildcard rule.
import { systemClock, type Clock } from '@ecps/core';
import { TrustError } from './errors';

export type PrincipalKind = 'user' | 'service' | 'device' | 'robot';

/** Who acts. `permissions` maps `action:resource` (split at the first `:`) to grant (true) or explicit deny (false). */
export interface Principal {
  readonly id: string;
  readonly kind: PrincipalKind;
  readonly name?: string;
  readonly roles: readonly string[];
  readonly permissions?: Readonly<Record<string, boolean>>;
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  /** Milliseconds since the epoch; the principal gets nothing from this instant on. */
  readonly expiresAt?: number;
}

/** A role: the permissions it grants (`true`); `false` entries in roles grant nothing and deny nothing. */
export type RolePermissions = Readonly<Record<string, boolean>>;

/** The spec's default roles. */
export const DEFAULT_ROLES: Readonly<Record<string, RolePermissions>> = {
  robot_operator: { 'move:robot': true, 'grip:gripper': true, 'sense:sensors': true },
  robot_admin: {
    'move:robot': true,
    'grip:gripper': true,
    'sense:sensors': true,
    'configure:robot': true,
    'update:firmware': true,
  },
  system_admin: { '*:*': true },
};

/** Splits a permission string at its first `:`. @throws TrustError `INVALID_ARGUMENT` without one. */
export function splitPermission(permission: string): { action: string; resource: string } {
  const at = permission.indexOf(':');
  if (at <= 0 || at === permission.length - 1) {
    throw new TrustError('INVALID_ARGUMENT', `permission "${permission}" is not action:resource`);
  }
  return { action: permission.slice(0, at), resource: permission.slice(at + 1) };
}

/** The four keys consulted for (action, resource), most specific first. */
export function permissionCandidates(action: string, resource: string): [string, string, string, string] {
  return [`${action}:${resource}`, `${action}:*`, `*:${resource}`, '*:*'];
}

/**
 * The spec §10 decision: expired → deny; else the first of `a:r`, `a:*`, `*:r`, `*:*` present in the direct
 * permissions decides (false is an explicit deny); else allow if any role grants one of them; else deny.
 * Unknown roles grant nothing.
 */
export function isAllowed(
  principal: Principal,
  action: string,
  resource: string,
  options: { roles?: Readonly<Record<string, RolePermissions>>; now?: number } = {},
): boolean {
  const now = options.now ?? Date.now();
  if (principal.expiresAt !== undefined && now >= principal.expiresAt) return false;
  const candidates = permissionCandidates(action, resource);
  const direct = principal.permissions ?? {};
  for (const key of candidates) {
    if (Object.hasOwn(direct, key)) return direct[key] === true;
  }
  const roles = options.roles ?? DEFAULT_ROLES;
  for (const role of principal.roles) {
    const grants = Object.hasOwn(roles, role) ? roles[role] : undefined;
    if (grants && candidates.some((key) => Object.hasOwn(grants, key) && grants[key] === true)) return true;
  }
  return false;
}

export interface RbacOptions {
  roles?: Readonly<Record<string, RolePermissions>>;
  principals?: readonly Principal[];
  clock?: Clock;
}

/** A directory of principals and roles that answers permission questions. */
export class Rbac {
  private readonly roles: Record<string, RolePermissions>;
  private readonly principals = new Map<string, Principal>();
  private readonly clock: Clock;

  constructor(options: RbacOptions = {}) {
    this.roles = { ...DEFAULT_ROLES, ...options.roles };
    this.clock = options.clock ?? systemClock;
    for (const p of options.principals ?? []) this.addPrincipal(p);
  }

  /** Adds or replaces a principal. @throws TrustError `INVALID_ARGUMENT` for a malformed permission key. */
  addPrincipal(principal: Principal): void {
    for (const key of Object.keys(principal.permissions ?? {})) splitPermission(key);
    this.principals.set(principal.id, principal);
  }

  removePrincipal(id: string): boolean {
    return this.principals.delete(id);
  }

  principal(id: string): Principal | undefined {
    return this.principals.get(id);
  }

  /** Adds or replaces a role. */
  defineRole(name: string, permissions: RolePermissions): void {
    for (const key of Object.keys(permissions)) splitPermission(key);
    this.roles[name] = permissions;
  }

  /** Whether the principal (by id or value) may do `action` on `resource`; unknown ids get nothing. */
  can(principal: string | Principal, action: string, resource: string): boolean {
    const p = typeof principal === 'string' ? this.principals.get(principal) : principal;
    return p !== undefined && isAllowed(p, action, resource, { roles: this.roles, now: this.clock.now() });
  }

  /** @throws TrustError `PERMISSION_DENIED` when {@link can} says no. */
  check(principal: string | Principal, action: string, resource: string): void {
    if (!this.can(principal, action, resource)) {
      const id = typeof principal === 'string' ? principal : principal.id;
      throw new TrustError('PERMISSION_DENIED', `${id} may not ${action} ${resource}`, { details: { principal: id, action, resource } });
    }
  }
}
