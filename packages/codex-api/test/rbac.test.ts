// SPDX-License-Identifier: Apache-2.0
// Checklist 20: every registered route × every role. No credentials → 401 (public routes excepted), a role without the
// route's permission → 403, a role with it → anything but 401/403. The route list comes from the server itself, so a
// route added without an access rule is walked too (and defaults to "authenticated").
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { ROLES, type Role, type RouteAccess, type RouteInfo } from '../src/index';
import { createHarness, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_REQUESTS: '100000' });
});
afterAll(async () => {
  await h?.close();
});

const concrete = (url: string) =>
  url
    .replace(':id', 'no-such-bot')
    .replace(':pid', 'patch-000000000000')
    .replace(':username', 'no-such-user')
    .replace(':user_id', 'someone')
    .replace('*', 'index.html');

// The spec's tables, written out here independently of the server's own declarations.
const GRANTS: Record<Role, string[]> = {
  admin: ['bot:read', 'bot:create', 'bot:update', 'bot:delete', 'bot:deploy', 'bot:start', 'bot:stop', 'system:read', 'system:manage'],
  operator: ['bot:read', 'bot:start', 'bot:stop', 'system:read'],
  viewer: ['bot:read', 'system:read'],
  user: ['bot:read'],
};
const DOCS = 'system:read';
const SPEC: Record<string, RouteAccess> = {
  'GET /docs': DOCS, 'GET /docs/static/index.html': DOCS, 'GET /docs/static/swagger-initializer.js': DOCS, 'GET /docs/json': DOCS,
  'GET /docs/yaml': DOCS, 'GET /docs/static/*': DOCS, 'GET /openapi.json': DOCS, 'GET /redoc': DOCS,
  'POST /api/v1/auth/login': 'public', 'POST /api/v1/auth/refresh': 'refresh', 'POST /api/v1/auth/logout': 'authenticated',
  'POST /api/v1/auth/token': 'api_key', 'GET /api/v1/auth/me': 'authenticated',
  'GET /api/v1/users': 'system:manage', 'POST /api/v1/users': 'system:manage', 'DELETE /api/v1/users/:username': 'system:manage',
  'POST /api/v1/api-keys': 'system:manage', 'DELETE /api/v1/api-keys/:id': 'system:manage',
  'GET /api/v1/bots': 'bot:read', 'POST /api/v1/bots': 'bot:create', 'GET /api/v1/bots/:id': 'bot:read', 'PUT /api/v1/bots/:id': 'bot:update',
  'DELETE /api/v1/bots/:id': 'bot:delete', 'POST /api/v1/bots/:id/start': 'bot:start', 'POST /api/v1/bots/:id/stop': 'bot:stop',
  'POST /api/v1/bots/:id/deploy-config': 'bot:deploy', 'GET /api/v1/bots/:id/logs': 'bot:read',
  'GET /': 'public', 'GET /health': 'public', 'GET /api/v1/system/stats': 'system:read', 'GET /api/v1/self/capabilities': 'system:read',
  'GET /api/v1/self/runtime': 'system:read', 'GET /api/v1/self/incidents': 'system:read',
  'GET /api/v1/guide/hello': 'public', 'GET /api/v1/guide/onboarding': 'public', 'GET /api/v1/guide/status': 'system:read',
  'GET /api/v1/guide/recommendations': 'system:read', 'GET /api/v1/dashboard/data': 'bot:read',
  'GET /api/v1/self/patches': 'system:manage', 'POST /api/v1/self/patches/propose': 'system:manage', 'GET /api/v1/self/patches/:pid': 'system:manage',
  'POST /api/v1/self/patches/:pid/approve': 'system:manage', 'POST /api/v1/self/patches/:pid/reject': 'system:manage',
  'POST /api/v1/self/patches/:pid/apply': 'system:manage', 'GET /api/v1/intelligent-bots/dashboard': 'public',
  'POST /api/v1/intelligent-bots/create-from-description': 'bot:create', 'POST /api/v1/intelligent-bots/quick-create': ['bot:create', 'system:manage'],
  'POST /api/v1/intelligent-bots/test-description': 'bot:read', 'GET /api/v1/intelligent-bots/templates': 'bot:read',
  'GET /api/v1/intelligent-bots/examples': 'bot:read', 'GET /api/v1/intelligent-bots/help': 'bot:read',
  'GET /api/v1/dashboard': 'public', 'GET /api/v1/dashboard/app.js': 'public', 'GET /api/v1/dashboard/app.css': 'public',
};

function expected(route: RouteInfo, role: Role | null): 'open' | 401 | 403 {
  const access = SPEC[`${route.method} ${route.url}`];
  if (access === undefined) throw new Error(`${route.method} ${route.url} is not in the spec table of this test`);
  if (access === 'public') return 'open';
  if (access === 'refresh' || access === 'api_key') return 401; // a bearer access token is neither
  if (role === null) return 401;
  if (access === 'authenticated' || access === 'ws_command') return 'open';
  const needed = Array.isArray(access) ? access : [access];
  return needed.every((p) => GRANTS[role].includes(p)) ? 'open' : 403;
}

it('walks every route × role', async () => {
  const routes = h.server.api.routes().filter((r) => !r.websocket && r.method !== 'OPTIONS');
  expect(routes.length).toBeGreaterThan(40);
  // Logout revokes the token that calls it: walk it last.
  routes.sort((a, b) => Number(a.url === '/api/v1/auth/logout') - Number(b.url === '/api/v1/auth/logout'));
  const mismatches: string[] = [];
  for (const route of routes) {
    for (const role of [null, ...ROLES]) {
      const r = await h.call(route.method, concrete(route.url), { token: role ? h.tokens[role] : null, ...(['POST', 'PUT'].includes(route.method) ? { body: {} } : {}) });
      const want = expected(route, role);
      const ok = want === 'open' ? r.status !== 401 && r.status !== 403 : r.status === want;
      if (!ok) mismatches.push(`${route.method} ${route.url} as ${role ?? 'anonymous'}: ${r.status}, expected ${want}`);
    }
  }
  expect(mismatches).toEqual([]);
  expect(h.server.api.routes().filter((r) => r.websocket).map((r) => r.url).sort()).toEqual(['/ws/command/:user_id', '/ws/updates']);
});
