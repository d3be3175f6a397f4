// SPDX-License-Identifier: Apache-2.0
// The REST API over HTTP against a real registry and supervisor: checklist items 1-5, 19, 21, 22, 23 and 26.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { apiConfigFromEnv, isApiError } from '../src/index';
import { ADMIN_KEY, createHarness, eventually, LOOP_BOT, PASSWORD, SECRET, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('bots (checklist 1-5)', () => {
  it('an empty registry lists no bots with a first-bot hint', async () => {
    const r = await h.call('GET', '/api/v1/bots', { token: h.tokens.viewer });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ bots: [], total: 0, help: '/docs' });
    expect(r.body.next_steps).toContain('POST /api/v1/bots to create your first bot');
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('create → get → delete → get 404', async () => {
    const created = await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'Alpha-1', name: 'Alpha One', blueprint: 'alpha/main.js' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'alpha-1', status: 'created' });
    expect(created.body.next_steps).toContain('POST /api/v1/bots/alpha-1/start to run it');
    const got = await h.call('GET', '/api/v1/bots/alpha-1', { token: h.tokens.user });
    expect(got.status).toBe(200);
    expect(got.body.id).toBe('alpha-1');
    const deleted = await h.call('DELETE', '/api/v1/bots/alpha-1', { token: h.tokens.admin });
    expect(deleted.body).toMatchObject({ status: 'deleted', bot_id: 'alpha-1' });
    const gone = await h.call('GET', '/api/v1/bots/alpha-1', { token: h.tokens.admin });
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ code: 'not_found', request_id: gone.headers.get('x-request-id') });
  });

  it.each([
    ['a missing id', { name: 'x', blueprint: 'x.js' }],
    ['a bad id', { id: 'no spaces!', name: 'x', blueprint: 'x.js' }],
    ['an unknown field', { id: 'v1', name: 'x', blueprint: 'x.js', colour: 'red' }],
    ['a client status', { id: 'v2', name: 'x', blueprint: 'x.js', status: 'running' }],
    ['a blueprint with ..', { id: 'v3', name: 'x', blueprint: '../x.js' }],
    ['an absolute blueprint', { id: 'v4', name: 'x', blueprint: '/etc/passwd' }],
  ])('400 for %s', async (_what, body) => {
    const r = await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_error');
    expect(r.body.detail).toEqual(expect.any(String));
  });

  it('409 for a duplicate id or name, 415 for a non-JSON body, 413 past 1 MiB', async () => {
    expect((await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'dup', name: 'Dup', blueprint: 'd.js' } })).status).toBe(201);
    expect((await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'dup', name: 'Other', blueprint: 'd.js' } })).status).toBe(409);
    expect((await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'dup2', name: 'dup', blueprint: 'd.js' } })).status).toBe(409);
    const text = await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: 'id=x', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    const big = await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: JSON.stringify({ id: 'big', name: 'x'.repeat(1_100_000), blueprint: 'b.js' }) });
    expect(big.status).toBe(413);
    expect((await h.call('DELETE', '/api/v1/bots/dup', { token: h.tokens.admin })).status).toBe(200);
  });

  it('start with a missing script → 400 "Bot script not found", failed, error_count + 1', async () => {
    await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'ghost', name: 'Ghost', blueprint: 'ghost/main.js', deployment_config: { interpreter: 'node' } } });
    const r = await h.call('POST', '/api/v1/bots/ghost/start', { token: h.tokens.operator });
    expect(r.status).toBe(400);
    expect(r.body.detail).toContain('Bot script not found');
    const bot = (await h.call('GET', '/api/v1/bots/ghost', { token: h.tokens.admin })).body;
    expect(bot).toMatchObject({ status: 'failed', error_count: 1 });
    expect(bot.next_steps).toContain('POST /api/v1/bots/ghost/start to retry');
    await h.call('DELETE', '/api/v1/bots/ghost', { token: h.tokens.admin });
  });

  it('stop a never-started bot → not_running; start twice → already_running; stop; logs; delete stops first', async () => {
    h.writeBot('loop/main.js', LOOP_BOT);
    await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'loop', name: 'Loop', blueprint: 'loop/main.js', deployment_config: { interpreter: 'node' } } });
    const idle = await h.call('POST', '/api/v1/bots/loop/stop', { token: h.tokens.operator });
    expect(idle.body).toMatchObject({ status: 'not_running', bot_status: 'created' });
    expect((await h.call('POST', '/api/v1/bots/loop/start', { token: h.tokens.operator })).body.status).toBe('ok');
    const again = await h.call('POST', '/api/v1/bots/loop/start', { token: h.tokens.operator });
    expect(again.body).toMatchObject({ status: 'already_running', bot_status: 'running' });
    const logs = await eventually(async () => {
      const r = await h.call('GET', '/api/v1/bots/loop/logs?tail_bytes=100', { token: h.tokens.viewer });
      return typeof r.body === 'string' && r.body.includes('tick') ? r : undefined;
    });
    expect(logs.headers.get('content-type')).toContain('text/plain');
    const runtime = await h.call('GET', '/api/v1/self/runtime', { token: h.tokens.viewer });
    expect(runtime.status).toBe(200);
    expect(runtime.body.bots_running).toEqual(['loop']);
    const status = await h.call('GET', '/api/v1/guide/status', { token: h.tokens.viewer });
    expect(status.status).toBe(200);
    expect(status.body.bots).toMatchObject({ running: 1, bot_ids: expect.arrayContaining(['loop']) });
    const pid = (await h.call('GET', '/api/v1/bots/loop', { token: h.tokens.admin })).body.process_id as number;
    expect((await h.call('DELETE', '/api/v1/bots/loop', { token: h.tokens.admin })).status).toBe(200);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('PUT needs the path id in the body and honours If-Match', async () => {
    const bot = (await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'put', name: 'Put', blueprint: 'p.js' } })).body;
    const mismatch = await h.call('PUT', '/api/v1/bots/put', { token: h.tokens.admin, body: { id: 'other', name: 'Put', blueprint: 'p.js' } });
    expect(mismatch.status).toBe(400);
    const stale = await h.call('PUT', '/api/v1/bots/put', { token: h.tokens.admin, body: { id: 'put', name: 'Put 2', blueprint: 'p.js' }, headers: { 'if-match': String(bot.revision + 5) } });
    expect(stale.status).toBe(409);
    const ok = await h.call('PUT', '/api/v1/bots/put', { token: h.tokens.admin, body: { id: 'put', name: 'Put 2', blueprint: 'p.js' }, headers: { 'if-match': String(bot.revision) } });
    expect(ok.body).toMatchObject({ name: 'Put 2' });
    await h.call('DELETE', '/api/v1/bots/put', { token: h.tokens.admin });
  });
});

describe('authentication (checklist 19)', () => {
  const login = (username: string, password: string, body: Record<string, unknown> = {}) => h.call('POST', '/api/v1/auth/login', { body: { username, password, ...body } });

  it('logs in with bcrypt and fails generically for a wrong password or an unknown user', async () => {
    const ok = await login('viewer', PASSWORD);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'bearer', expires_in: 1800 });
    const wrong = await login('viewer', 'not the password at all');
    const unknown = await login('nobody-here', 'not the password at all');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.detail).toBe(unknown.body.detail);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    const me = await h.call('GET', '/api/v1/auth/me', { token: ok.body.access_token });
    expect(me.body).toEqual({ sub: h.ids.viewer, username: 'viewer', roles: ['viewer'], permissions: ['bot:read', 'system:read'] });
  });

  it('rotates refresh tokens; a reused one revokes the whole family', async () => {
    const first = (await login('operator', PASSWORD)).body;
    const second = await h.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    const reuse = await h.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(reuse.status).toBe(401);
    // The family is gone: the token issued by the legitimate rotation no longer works either.
    const third = await h.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: second.body.refresh_token } });
    expect(third.status).toBe(401);
    // An access token is not a refresh token.
    expect((await h.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.access_token } })).status).toBe(401);
  });

  it('logout revokes the access token and its refresh family', async () => {
    const pair = (await login('user', PASSWORD)).body;
    expect((await h.call('GET', '/api/v1/bots', { token: pair.access_token })).status).toBe(200);
    const out = await h.call('POST', '/api/v1/auth/logout', { token: pair.access_token });
    expect(out.body).toBe('');
    expect(out.status).toBe(204);
    expect((await h.call('GET', '/api/v1/bots', { token: pair.access_token })).status).toBe(401);
    expect((await h.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } })).status).toBe(401);
  });

  it('refuses alg:none, expired, wrong type, wrong audience, wrong issuer and a foreign key', async () => {
    const key = new TextEncoder().encode(SECRET);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: h.ids.admin, username: 'admin', roles: ['admin'], type: 'access', jti: 'j1' };
    const sign = (c: Record<string, unknown>, k: Uint8Array = key) => new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(k);
    const good = await sign({ ...claims, iat: now, exp: now + 600, iss: 'codex32', aud: 'codex32-api' });
    expect((await h.call('GET', '/api/v1/auth/me', { token: good })).status).toBe(200);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iat: now, exp: now + 600, iss: 'codex32', aud: 'codex32-api' })}.`;
    const bad = [
      none,
      await sign({ ...claims, iat: now - 4000, exp: now - 60, iss: 'codex32', aud: 'codex32-api' }),
      await sign({ ...claims, type: 'refresh', iat: now, exp: now + 600, iss: 'codex32', aud: 'codex32-api' }),
      await sign({ ...claims, iat: now, exp: now + 600, iss: 'codex32', aud: 'another-api' }),
      await sign({ ...claims, iat: now, exp: now + 600, iss: 'someone-else', aud: 'codex32-api' }),
      await sign({ ...claims, iat: now, exp: now + 600, iss: 'codex32', aud: 'codex32-api' }, new TextEncoder().encode('x'.repeat(40))),
    ];
    for (const token of bad) {
      const r = await h.call('GET', '/api/v1/auth/me', { token });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('unauthorized');
    }
  });

  it('API keys: X-API-Key works, a wrong key is 401, both credentials is 400, /auth/token cannot widen roles', async () => {
    const created = await h.call('POST', '/api/v1/api-keys', { token: h.tokens.admin, body: { service_name: 'ci', roles: ['viewer'] } });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^c32_[A-Za-z0-9_-]{43}$/);
    const key = created.body.key as string;
    expect((await h.call('GET', '/api/v1/system/stats', { headers: { 'x-api-key': key } })).status).toBe(200);
    expect((await h.call('POST', '/api/v1/bots', { headers: { 'x-api-key': key }, body: { id: 'k', name: 'k', blueprint: 'k.js' } })).status).toBe(403);
    const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    expect((await h.call('GET', '/api/v1/system/stats', { headers: { 'x-api-key': flipped } })).status).toBe(401);
    expect((await h.call('GET', '/api/v1/system/stats', { token: h.tokens.admin, headers: { 'x-api-key': key } })).status).toBe(400);
    expect((await h.call('GET', '/api/v1/system/stats', { headers: { 'x-api-key': ADMIN_KEY } })).status).toBe(200);
    const wider = await h.call('POST', '/api/v1/auth/token?roles=admin', { headers: { 'x-api-key': key } });
    expect(wider.status).toBe(403);
    const minted = await h.call('POST', '/api/v1/auth/token', { headers: { 'x-api-key': key } });
    expect(minted.status).toBe(200);
    const me = await h.call('GET', '/api/v1/auth/me', { token: minted.body.access_token });
    expect(me.body.roles).toEqual(['viewer']);
    expect((await h.call('DELETE', `/api/v1/api-keys/${created.body.id}`, { token: h.tokens.admin })).status).toBe(200);
    expect((await h.call('GET', '/api/v1/system/stats', { headers: { 'x-api-key': key } })).status).toBe(401);
  });

  it('users: created with a hash that is never returned; short passwords refused', async () => {
    const created = await h.call('POST', '/api/v1/users', { token: h.tokens.admin, body: { username: 'newbie', password: PASSWORD, roles: ['viewer'] } });
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('$2');
    expect((await h.call('POST', '/api/v1/users', { token: h.tokens.admin, body: { username: 'shorty', password: 'short', roles: ['viewer'] } })).status).toBe(400);
    const list = await h.call('GET', '/api/v1/users', { token: h.tokens.admin });
    expect(JSON.stringify(list.body)).not.toContain('hashed_password');
    expect((await h.call('DELETE', '/api/v1/users/newbie', { token: h.tokens.admin })).status).toBe(200);
  });
});

describe('patch proposals (checklist 21)', () => {
  const body = { title: 'Faster ticks', goal: 'tick less', diff: '*** Begin Patch\n*** End Patch', rationale: 'load', risks: [], tests: [] };

  it('propose → approve (not by the proposer) → apply; illegal transitions are 409; no credentials is 401', async () => {
    expect((await h.call('GET', '/api/v1/self/patches')).status).toBe(401);
    const proposed = await h.call('POST', '/api/v1/self/patches/propose', { token: h.tokens.admin, body });
    expect(proposed.status).toBe(201);
    const pid = proposed.body.proposal_id as string;
    expect(pid).toMatch(/^patch-[0-9a-f]{12}$/);
    expect((await h.call('POST', `/api/v1/self/patches/${pid}/apply`, { token: h.tokens.admin2 })).status).toBe(409);
    const self = await h.call('POST', `/api/v1/self/patches/${pid}/approve`, { token: h.tokens.admin });
    expect(self.status).toBe(403);
    const approved = await h.call('POST', `/api/v1/self/patches/${pid}/approve?reviewer=admin`, { token: h.tokens.admin2 });
    expect(approved.status).toBe(400); // reviewer cannot be set by a query parameter
    const ok = await h.call('POST', `/api/v1/self/patches/${pid}/approve`, { token: h.tokens.admin2 });
    expect(ok.body).toMatchObject({ status: 'approved', reviewer: h.ids.admin2 });
    expect((await h.call('POST', `/api/v1/self/patches/${pid}/apply`, { token: h.tokens.admin2 })).body.status).toBe('applied');
    expect((await h.call('POST', `/api/v1/self/patches/${pid}/reject`, { token: h.tokens.admin2 })).status).toBe(409);
    const listed = await h.call('GET', '/api/v1/self/patches', { token: h.tokens.admin });
    expect(listed.body.proposals).toEqual([expect.objectContaining({ proposal_id: pid, status: 'applied' })]);
  });
});

describe('system, guide and dashboard (checklist 26, 27)', () => {
  it('index, health, guides and the dashboard shell', async () => {
    const root = await h.call('GET', '/');
    expect(root.body).toMatchObject({ docs: '/docs', dashboard: '/api/v1/dashboard', features: { container_engine: 'sandbox' } });
    expect((await h.call('GET', '/health')).body).toMatchObject({ status: 'healthy', container_engine: 'sandbox' });
    const hello = await h.call('GET', '/api/v1/guide/hello');
    expect(Object.keys(hello.body)).toEqual(expect.arrayContaining(['next', 'quick_links', 'timestamp']));
    const onboarding = await h.call('GET', '/api/v1/guide/onboarding');
    expect(onboarding.body.steps.find((s: { id: string }) => s.id === 'create').example.body.blueprint).toBeDefined();
    const recs = await h.call('GET', '/api/v1/guide/recommendations', { token: h.tokens.viewer });
    expect(recs.body.recommendations.some((r: { action: { path: string } }) => r.action.path === '/docs')).toBe(true);
    const caps = await h.call('GET', '/api/v1/self/capabilities', { token: h.tokens.viewer });
    expect(caps.body).toMatchObject({ self_healing: true, self_enhancement: { mode: 'proposal-and-approve' }, sandbox: { levels: expect.any(Object) } });
    const data = await h.call('GET', '/api/v1/dashboard/data', { token: h.tokens.user });
    expect(Object.keys(data.body)).toEqual(expect.arrayContaining(['health', 'bots', 'executor', 'supervisor', 'recommendations', 'links']));
    const page = await h.call('GET', '/api/v1/dashboard');
    expect(page.body).toContain('<!DOCTYPE html>');
    expect(page.body).toContain('Codex-32 Dashboard');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${h.url}/api/v1/intelligent-bots/dashboard`, { redirect: 'manual' })).status).toBe(308);
  });

  it('the OpenAPI document is generated from the validated schemas and needs system:read in production', async () => {
    expect((await h.call('GET', '/openapi.json')).status).toBe(401);
    const doc = await h.call('GET', '/openapi.json', { token: h.tokens.viewer });
    expect(doc.status).toBe(200);
    expect(doc.body.paths['/api/v1/bots'].post.requestBody.content['application/json'].schema.properties.blueprint).toBeDefined();
  });
});

describe('hardening (checklist 22, 23)', () => {
  it('startup refuses placeholder and short secrets and CORS *', () => {
    const refused = (env: Record<string, string>) => {
      try {
        apiConfigFromEnv(env, '/tmp');
        return false;
      } catch (error) {
        return isApiError(error, 'config_invalid');
      }
    };
    expect(refused({ API_SECRET_KEY: 'CHANGE_THIS_IN_PRODUCTION' })).toBe(true);
    expect(refused({ API_SECRET_KEY: 'short' })).toBe(true);
    expect(refused({ API_SECRET_KEY: SECRET, ADMIN_API_KEY: 'CHANGE_THIS_IN_PRODUCTION' })).toBe(true);
    expect(refused({ API_SECRET_KEY: SECRET, CORS_ORIGINS: '*' })).toBe(true);
    expect(refused({ CODEX32_ENV: 'development', API_SECRET_KEY: 'short' })).toBe(true);
    expect(refused({ CODEX32_ENV: 'development', CODEX32_ALLOW_DEFAULT_SECRETS: 'true', API_SECRET_KEY: 'short' })).toBe(false);
    expect(apiConfigFromEnv({ API_SECRET_KEY: SECRET }, '/tmp')).toMatchObject({ host: '127.0.0.1', port: 8000, bcryptCost: 12 });
  });

  it('a disallowed origin gets no CORS headers; a listed one is echoed without *', async () => {
    const other = await createHarness({ CORS_ORIGINS: 'https://ops.example' });
    try {
      const listed = await other.call('GET', '/health', { headers: { origin: 'https://ops.example' } });
      expect(listed.headers.get('access-control-allow-origin')).toBe('https://ops.example');
      expect(listed.headers.get('vary')).toContain('Origin');
      const foreign = await other.call('GET', '/health', { headers: { origin: 'https://evil.example' } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('the 101st request in the window is 429 with retry-after; 5 failed logins lock out', async () => {
    const limited = await createHarness();
    try {
      for (let i = 0; i < 100; i++) {
        const r = await limited.call('GET', '/api/v1/bots', { token: limited.tokens.viewer });
        expect(r.status).toBe(200);
      }
      const over = await limited.call('GET', '/api/v1/bots', { token: limited.tokens.viewer });
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(over.body.code).toBe('rate_limited');
      // Another principal has its own budget.
      expect((await limited.call('GET', '/api/v1/bots', { token: limited.tokens.user })).status).toBe(200);
      for (let i = 0; i < 5; i++) {
        expect((await limited.call('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'wrong password 123' } })).status).toBe(401);
      }
      const locked = await limited.call('POST', '/api/v1/auth/login', { body: { username: 'admin', password: PASSWORD } });
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).not.toBeNull();
    } finally {
      await limited.close();
    }
  });
});
