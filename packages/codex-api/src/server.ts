// SPDX-License-Identifier: Apache-2.0
// The management API: Fastify with schema validation from the registry's TypeBox schemas, authentication and RBAC on
// every route, rate limits, CORS by allow-list, security headers, OpenAPI, WebSockets and the dashboard.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isCodexError, type Registry } from '@ecps/codex-registry';
import { systemClock, type Clock } from '@ecps/core';
import type { AuthStore } from './auth/auth-store';
import { Authenticator } from './auth/authenticator';
import type { ApiConfig } from './config';
import type { RouteAccess, ServerContext } from './context';
import type { Deployments } from './deployments';
import { ApiError, isApiError } from './errors';
import { Conversation } from './intent/conversation';
import { originAllowed } from './origin';
import type { PatchProposals } from './patches';
import { hasPermission, type Principal } from './permissions';
import { authRoutes } from './routes/auth';
import { botRoutes } from './routes/bots';
import { builderRoutes } from './routes/builder';
import { dashboardRoutes } from './routes/dashboard';
import { systemRoutes } from './routes/system';
import { BotService } from './service';
import type { SpeechToTextProvider } from './speech/provider';
import { CommandRateLimiter, serveCommandSocket } from './ws/command';
import { UpdatesHub, WS_CLOSE } from './ws/updates';

export interface CodexApiOptions {
  config: ApiConfig;
  registry: Registry;
  deployments: Deployments;
  authStore: AuthStore;
  patches: PatchProposals;
  /** Root of the blueprints; the bot builder writes only below it. */
  botsDirectory: string;
  /** The interpreter (a key of `BOT_INTERPRETERS`) of generated bots (default `node`). */
  builderInterpreter?: string;
  stt?: SpeechToTextProvider | null;
  clock?: Clock;
  /**
   * A pino-compatible logger, or true for Fastify's own (pino on stdout); default none. Each request is logged once,
   * when answered, with its method, path (never the query string, which may carry a token), status and duration.
   */
  logger?: FastifyBaseLogger | boolean;
  version?: string;
  /** Where index.html, app.js and app.css are (default: the package's `dashboard/`). */
  dashboardDir?: string;
}

/** A route of the API and who may call it. */
export interface RouteInfo {
  method: string;
  url: string;
  access: RouteAccess;
  websocket: boolean;
}

/** The running API: the Fastify instance (listen on it), the pieces behind it, and a graceful `close`. */
export interface CodexApi {
  readonly app: FastifyInstance;
  readonly auth: Authenticator;
  readonly conversation: Conversation;
  readonly service: BotService;
  /** Every route with who may call it (what the RBAC test walks). */
  routes(): readonly RouteInfo[];
  /** Refuses new requests (503), closes WebSockets with 1001, stops listening. The registry and drivers stay open. */
  close(): Promise<void>;
}

function packageDashboardDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
  return join(here, '..', 'dashboard');
}

type AjvError = { instancePath: string; keyword?: string; message?: string; params?: Record<string, unknown> };

/**
 * One error per path: Ajv reports an enum of literals (a union of constants) as one "must be equal to constant" per
 * member plus an anyOf failure; the client gets "must be one of: a, b, c" instead.
 */
function validationErrors(validation: readonly AjvError[]): { path: string; message: string }[] {
  const byPath = new Map<string, { allowed: unknown[]; messages: string[] }>();
  for (const v of validation) {
    const path = v.params?.['additionalProperty'] ? `${v.instancePath}/${String(v.params['additionalProperty'])}` : v.instancePath || '/';
    const entry = byPath.get(path) ?? { allowed: [], messages: [] };
    byPath.set(path, entry);
    if (v.keyword === 'const') entry.allowed.push(v.params?.['allowedValue']);
    else if (v.keyword !== 'anyOf' || entry.allowed.length === 0) entry.messages.push(v.message ?? 'invalid');
  }
  return [...byPath].map(([path, e]) => ({
    path,
    message: e.allowed.length > 0 && e.messages.length === 0 ? `must be one of: ${e.allowed.join(', ')}` : [...new Set(e.messages)].join(', '),
  }));
}

const PUBLIC_ACCESS = new Set<RouteAccess>(['public', 'refresh', 'api_key', 'ws_command']);

function errorBody(request: FastifyRequest, code: string, detail: string, errors?: readonly { path: string; message: string }[]) {
  const body: Record<string, unknown> = { detail, code, request_id: request.id, ...(errors && errors.length > 0 ? { errors } : {}) };
  if (request.url.startsWith('/api/v1/intelligent-bots')) Object.assign(body, { success: false, error: detail });
  return body;
}

/**
 * Builds the API on a Fastify instance (not yet listening). Throws `ApiError` `config_invalid` for unsafe settings.
 * Every route but the public ones needs a bearer access token or an `X-API-Key` (not both: 400).
 */
export async function createCodexApi(options: CodexApiOptions): Promise<CodexApi> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const auth = new Authenticator({
    store: options.authStore,
    secretKey: config.secretKey,
    accessTokenTtlSec: config.accessTokenTtlSec,
    refreshTokenTtlSec: config.refreshTokenTtlSec,
    bcryptCost: config.bcryptCost,
    adminApiKey: config.adminApiKey,
    loginLockout: config.loginLockout,
    clock,
  });
  if (config.bootstrapAdmin && !(await options.authStore.getUser(config.bootstrapAdmin.username))) {
    await options.authStore.createUser({
      id: randomUUID(),
      username: config.bootstrapAdmin.username,
      email: null,
      hashed_password: config.bootstrapAdmin.hash,
      roles: ['admin'],
      is_active: true,
      created_at: new Date(clock.now()).toISOString(),
    });
  }
  const service = new BotService(options.registry, options.deployments, clock);
  const conversation = new Conversation({ service, clock });
  const ctx: ServerContext = {
    config,
    registry: options.registry,
    deployments: options.deployments,
    service,
    auth,
    patches: options.patches,
    conversation,
    stt: options.stt ?? null,
    botsDirectory: options.botsDirectory,
    builderInterpreter: options.builderInterpreter ?? 'node',
    version: options.version ?? '0.1.0',
    clock,
    dashboardDir: options.dashboardDir ?? packageDashboardDir(),
  };
  if (!existsSync(join(ctx.dashboardDir, 'index.html'))) throw new ApiError('config_invalid', `dashboard assets not found in ${ctx.dashboardDir}`);

  const app = Fastify({
    ...(typeof options.logger === 'object' ? { loggerInstance: options.logger } : { logger: options.logger ?? false }),
    // Fastify's own request lines carry the whole URL; ours (onResponse below) carry the path only.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    genReqId: () => randomUUID(),
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false, useDefaults: false, coerceTypes: false, allErrors: true } },
  });
  app.removeContentTypeParser(['text/plain']);
  // First, so its onRequest hook marks upgrades before any of ours can refuse one: a refused upgrade's socket is then
  // destroyed after the HTTP error is written, instead of staying open.
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });
  app.decorateRequest('principal', null);
  app.decorateRequest('authError', null);
  let closing = false;

  // 1. Shutdown, CORS, and who is calling (never rejects here: enforcement comes after the rate limit).
  app.addHook('onRequest', async (request, reply) => {
    if (closing) throw new ApiError('unavailable', 'server shutting down');
    const origin = request.headers.origin;
    reply.header('vary', 'Origin');
    if (origin && config.corsOrigins.includes(origin)) {
      reply.header('access-control-allow-origin', origin).header('access-control-allow-credentials', 'true');
      if (request.method === 'OPTIONS') {
        reply
          .header('access-control-allow-methods', 'GET, POST, PUT, DELETE')
          .header('access-control-allow-headers', 'authorization, content-type, x-api-key, if-match')
          .header('access-control-max-age', '600');
      }
    }
    request.principal = await resolvePrincipal(request).catch((error: Error) => {
      request.authError = error;
      return null;
    });
  });

  async function resolvePrincipal(request: FastifyRequest): Promise<Principal | null> {
    const header = request.headers.authorization;
    const isWs = request.url.startsWith('/ws/');
    const query = isWs ? new URL(request.url, 'http://x').searchParams.get('token') : null;
    let apiKey = request.headers['x-api-key'];
    if (apiKey === undefined && request.url.startsWith('/api/v1/self/patches')) apiKey = request.headers['x-admin-api-key'];
    const bearer = header ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header)?.[1] : (query ?? undefined);
    if (header && !bearer) throw new ApiError('unauthorized', 'malformed Authorization header');
    if (bearer && apiKey !== undefined) throw new ApiError('validation_error', 'send either a bearer token or an API key, not both');
    if (typeof apiKey === 'string') return auth.authenticateApiKey(apiKey);
    if (Array.isArray(apiKey)) throw new ApiError('validation_error', 'one X-API-Key header only');
    // The refresh route reads its own token (a refresh token is not an access token).
    if (bearer && request.url.split('?')[0] !== '/api/v1/auth/refresh') return auth.authenticateBearer(bearer);
    return null;
  }

  // 2. Rate limit per principal, else per IP.
  await app.register(fastifyRateLimit, {
    global: true,
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowSec * 1000,
    hook: 'onRequest',
    keyGenerator: (request) => request.principal?.sub ?? `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => new ApiError('rate_limited', `rate limit exceeded: ${context.max} requests per ${config.rateLimit.windowSec} s`, { retryAfterSec: Math.ceil(context.ttl / 1000) }),
  });

  // 3. Authentication and permission of the route.
  app.addHook('onRequest', async (request) => {
    const access: RouteAccess = request.routeOptions.config?.access ?? 'authenticated';
    if (request.authError && (!PUBLIC_ACCESS.has(access) || access === 'api_key')) throw request.authError;
    if (access === 'public' || access === 'refresh' || access === 'ws_command') return;
    if (access === 'api_key') {
      if (request.principal?.kind !== 'api_key') throw new ApiError('unauthorized', 'an X-API-Key is required');
      return;
    }
    if (!request.principal) throw new ApiError('unauthorized', 'authentication required');
    if (access === 'authenticated') return;
    for (const permission of Array.isArray(access) ? access : [access]) {
      if (!hasPermission(request.principal, permission)) throw new ApiError('forbidden', `missing permission ${permission}`);
    }
  });

  if (options.logger) {
    app.addHook('onResponse', async (request, reply) => {
      request.log.info({ method: request.method, path: request.url.split('?')[0], statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    });
  }

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
    return payload;
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string; validation?: AjvError[] }, request, reply: FastifyReply) => {
    if (isApiError(error) || isCodexError(error)) {
      const status = error.status;
      if (status === 401) reply.header('www-authenticate', 'Bearer');
      if (isApiError(error) && error.retryAfterSec !== undefined) reply.header('retry-after', String(error.retryAfterSec));
      return reply.code(status).send(errorBody(request, error.reason, error.message, error.errors));
    }
    if (error.validation) {
      const errors = validationErrors(error.validation);
      return reply.code(400).send(errorBody(request, 'validation_error', errors.map((e) => `${e.path} ${e.message}`).join('; '), errors));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send(errorBody(request, 'unsupported_media_type', 'Content-Type must be application/json'));
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send(errorBody(request, 'payload_too_large', 'request body larger than 1 MiB'));
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return reply.code(error.statusCode).send(errorBody(request, 'validation_error', error.message));
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(request, 'internal_error', 'internal error'));
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody(request, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`)));

  const docsAccess: RouteAccess = config.env === 'development' ? 'public' : 'system:read';
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config as object), access: docsAccess };
    const access = (route.config as { access?: RouteAccess } | undefined)?.access ?? 'authenticated';
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, access, websocket: Boolean((route as { websocket?: boolean }).websocket) });
  });
  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Codex-32 management API', version: ctx.version, description: 'Bots, supervision, authentication, live updates and commands.' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  // Our own (blank) logo: the plugin would otherwise read its logo from beside its sources at start-up, which a
  // bundled server does not have.
  const logo = { type: 'image/svg+xml', content: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>') };
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' }, staticCSP: true, logo });

  app.options('/*', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => reply.code(204).send());
  app.get('/openapi.json', { config: { access: docsAccess }, schema: { hide: true } }, async () => app.swagger());
  app.get('/redoc', { config: { access: docsAccess }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs', 308));

  authRoutes(app, ctx);
  botRoutes(app, ctx);
  systemRoutes(app, ctx);
  builderRoutes(app, ctx);
  dashboardRoutes(app, ctx);

  const hub = new UpdatesHub(options.registry, { ...config.ws, clock });
  const commandLimiter = new CommandRateLimiter(config.ws.commandsPerWindow, config.ws.commandWindowSec, clock);
  const wsOrigin = async (request: FastifyRequest) => {
    if (!originAllowed(request, config)) throw new ApiError('forbidden', 'origin not allowed');
  };
  app.get('/ws/updates', { websocket: true, config: { access: 'bot:read' }, preValidation: wsOrigin, schema: { hide: true } }, (socket, request) => {
    const principal = request.principal!;
    if (hub.connections(principal.sub) >= config.ws.maxConnectionsPerPrincipal) {
      socket.close(WS_CLOSE.tooManyConnections, 'too many connections');
      return;
    }
    closeAtExpiry(socket, principal);
    void hub.add(socket, principal.sub);
  });
  app.get('/ws/command/:user_id', { websocket: true, config: { access: 'ws_command' }, preValidation: wsOrigin, schema: { hide: true } }, (socket, request) => {
    const principal = request.principal;
    if (!principal) return socket.close(WS_CLOSE.unauthenticated, 'authentication required');
    if ((request.params as { user_id: string }).user_id !== principal.sub || !hasPermission(principal, 'bot:read')) return socket.close(WS_CLOSE.forbidden, 'forbidden');
    closeAtExpiry(socket, principal);
    serveCommandSocket(socket, principal, { conversation, stt: ctx.stt, limiter: commandLimiter });
  });

  function closeAtExpiry(socket: WebSocket, principal: Principal): void {
    if (!principal.exp) return;
    const timer = clock.setTimeout(() => socket.close(WS_CLOSE.unauthenticated, 'token expired'), Math.max(0, principal.exp * 1000 - clock.now()));
    socket.once('close', () => clock.clearTimeout(timer));
  }

  return {
    app,
    auth,
    conversation,
    service,
    routes: () => routes,
    async close() {
      closing = true;
      hub.close();
      await app.close();
    },
  };
}
