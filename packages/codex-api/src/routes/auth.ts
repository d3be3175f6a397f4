// SPDX-License-Identifier: Apache-2.0
// /api/v1/auth (login, refresh, logout, token, me), /api/v1/users and /api/v1/api-keys.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { publicUser, type TokenPair } from '../auth/authenticator';
import type { ServerContext } from '../context';
import { ApiError } from '../errors';
import { isSameOrigin } from '../origin';
import { permissionsOf, ROLES } from '../permissions';

export const REFRESH_COOKIE = 'codex32_refresh';

const RefreshBody = Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 4096 })) }, { additionalProperties: false });
/** Refresh and logout may come without a body (the token is in a header or the cookie). */
const emptyBody = async (request: FastifyRequest) => {
  request.body ??= {};
};
const Roles = Type.Array(Type.String({ enum: [...ROLES] }), { minItems: 1, maxItems: 4 });

export function authRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { auth, config } = ctx;
  const tags = ['auth'];

  const setRefreshCookie = (reply: FastifyReply, pair: TokenPair) =>
    reply.setCookie(REFRESH_COOKIE, pair.refresh_token, { httpOnly: true, secure: config.secureCookies, sameSite: 'strict', path: '/api/v1/auth', maxAge: config.refreshTokenTtlSec });

  app.post(
    '/api/v1/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags,
        summary: 'Password login',
        body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }), use_cookie: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const body = request.body as { username: string; password: string; use_cookie?: boolean };
      const pair = await auth.login(body.username, body.password, request.ip);
      if (body.use_cookie) setRefreshCookie(reply, pair);
      return pair;
    },
  );

  app.post(
    '/api/v1/auth/refresh',
    { config: { access: 'refresh' }, preValidation: emptyBody, schema: { tags, summary: 'Rotate a refresh token', body: RefreshBody } },
    async (request, reply) => {
      const fromHeader = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const fromBody = (request.body as { refresh_token?: string } | undefined)?.refresh_token;
      const fromCookie = request.cookies[REFRESH_COOKIE];
      let token = fromHeader ?? fromBody;
      let viaCookie = false;
      if (!token && fromCookie) {
        if (!isSameOrigin(request)) throw new ApiError('unauthorized', 'the refresh cookie is accepted only from this origin');
        token = fromCookie;
        viaCookie = true;
      }
      if (!token) throw new ApiError('unauthorized', 'no refresh token');
      const pair = await auth.refresh(token);
      if (viaCookie) setRefreshCookie(reply, pair);
      return pair;
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { config: { access: 'authenticated' }, preValidation: emptyBody, schema: { tags, summary: 'Revoke the access token and the refresh family', body: RefreshBody } },
    async (request, reply) => {
      const refresh = (request.body as { refresh_token?: string } | undefined)?.refresh_token ?? (isSameOrigin(request) ? request.cookies[REFRESH_COOKIE] : undefined);
      await auth.logout(request.principal!, refresh);
      reply.clearCookie(REFRESH_COOKIE, { path: '/api/v1/auth' });
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/v1/auth/token',
    {
      config: { access: 'api_key' },
      schema: {
        tags,
        summary: 'An access token for a service API key',
        querystring: Type.Object(
          { user_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })), username: Type.Optional(Type.String({ maxLength: 64 })), roles: Type.Optional(Type.String({ maxLength: 100 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const q = request.query as { user_id?: string; username?: string; roles?: string };
      return auth.tokenForApiKey(request.principal!, {
        ...(q.user_id ? { user_id: q.user_id } : {}),
        ...(q.username ? { username: q.username } : {}),
        ...(q.roles ? { roles: q.roles.split(',').map((r) => r.trim()).filter(Boolean) } : {}),
      });
    },
  );

  app.get('/api/v1/auth/me', { config: { access: 'authenticated' }, schema: { tags, summary: 'Who am I' } }, async (request) => {
    const p = request.principal!;
    return { sub: p.sub, username: p.username, roles: p.roles, permissions: permissionsOf(p.roles) };
  });

  app.get('/api/v1/users', { config: { access: 'system:manage' }, schema: { tags: ['users'], summary: 'List users' } }, async () => ({
    users: (await auth.store.listUsers()).map(publicUser),
  }));

  app.post(
    '/api/v1/users',
    {
      config: { access: 'system:manage' },
      schema: {
        tags: ['users'],
        summary: 'Create a user',
        body: Type.Object(
          { username: Type.String({ pattern: '^[a-z0-9_.-]{3,64}$' }), password: Type.String({ minLength: 12, maxLength: 1024 }), email: Type.Optional(Type.String({ maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' })), roles: Roles },
          { additionalProperties: false },
        ),
      },
    },
    async (request: FastifyRequest, reply) => {
      const user = await auth.createUser(request.body as { username: string; password: string; email?: string; roles: string[] });
      return reply.code(201).send(publicUser(user));
    },
  );

  app.delete('/api/v1/users/:username', { config: { access: 'system:manage' }, schema: { tags: ['users'], params: Type.Object({ username: Type.String({ maxLength: 64 }) }) } }, async (request) => {
    const { username } = request.params as { username: string };
    if (!(await auth.store.deleteUser(username))) throw new ApiError('not_found', `no user ${username}`);
    return { status: 'deleted', username };
  });

  app.post(
    '/api/v1/api-keys',
    {
      config: { access: 'system:manage' },
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key (shown once)',
        body: Type.Object({ service_name: Type.String({ minLength: 1, maxLength: 128 }), roles: Roles, expires_at: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const created = await auth.createApiKey(request.body as { service_name: string; roles: string[]; expires_at?: string });
      return reply.code(201).send({ id: created.id, key: created.key, key_prefix: created.key_prefix });
    },
  );

  app.delete('/api/v1/api-keys/:id', { config: { access: 'system:manage' }, schema: { tags: ['api-keys'], params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } }, async (request) => {
    const { id } = request.params as { id: string };
    if (!(await auth.store.deleteApiKey(id))) throw new ApiError('not_found', `no API key ${id}`);
    return { status: 'deleted', id };
  });
}
