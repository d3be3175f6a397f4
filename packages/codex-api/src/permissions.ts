// SPDX-License-Identifier: Apache-2.0
// Roles and the permissions they grant. A principal holds a permission iff one of its roles grants it; no wildcards.

export const ROLES = ['admin', 'operator', 'viewer', 'user'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'bot:read', 'bot:create', 'bot:update', 'bot:delete', 'bot:deploy', 'bot:start', 'bot:stop', 'system:read', 'system:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The role → permission table of the API. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: PERMISSIONS,
  operator: ['bot:read', 'bot:start', 'bot:stop', 'system:read'],
  viewer: ['bot:read', 'system:read'],
  user: ['bot:read'],
};

/** Who is calling: a user (from a JWT) or a service (from an API key). */
export interface Principal {
  /** The user id (`sub`) or `key:<api key id>`. */
  sub: string;
  username: string;
  roles: Role[];
  kind: 'user' | 'api_key';
  /** The access token's id and expiry (seconds), for logout. */
  jti?: string;
  exp?: number;
  /** The refresh family of the login session the access token belongs to, revoked at logout. */
  family?: string;
}

/** Every permission the roles grant, in table order. */
export function permissionsOf(roles: readonly Role[]): Permission[] {
  return PERMISSIONS.filter((p) => roles.some((r) => ROLE_PERMISSIONS[r]?.includes(p)));
}

export function hasPermission(principal: Pick<Principal, 'roles'>, permission: Permission): boolean {
  return principal.roles.some((r) => ROLE_PERMISSIONS[r]?.includes(permission));
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
