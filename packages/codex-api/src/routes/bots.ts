// SPDX-License-Identifier: Apache-2.0
// /api/v1/bots: list, create, read, replace, delete, start, stop, deployment config and logs.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BOT_ROLES, BOT_STATUSES, BotInputSchema, CodexError, DeploymentConfigSchema, SERVER_OWNED_FIELDS } from '@ecps/codex-registry';
import type { ServerContext } from '../context';
import { nextSteps } from '../service';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const enumString = (values: readonly string[]) => Type.String({ enum: [...values] });

/** Lower-cases `id` and names server-owned fields before schema validation, so the client learns what it did wrong. */
function prepareBotBody(request: FastifyRequest): void {
  const body = request.body as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const owned = SERVER_OWNED_FIELDS.filter((f) => f in body);
  if (owned.length > 0) {
    throw new CodexError('validation_error', `server-owned field(s) cannot be set: ${owned.join(', ')}`, {
      errors: owned.map((f) => ({ path: `/${f}`, message: 'is set by the server' })),
    });
  }
  if (typeof body['id'] === 'string') body['id'] = body['id'].toLowerCase();
}

export function botRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service } = ctx;
  const tags = ['bots'];

  app.get(
    '/api/v1/bots',
    {
      config: { access: 'bot:read' },
      schema: {
        tags,
        summary: 'List bots',
        querystring: Type.Object(
          {
            status: Type.Optional(enumString(BOT_STATUSES)),
            role: Type.Optional(enumString(BOT_ROLES)),
            limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
            offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const q = request.query as { status?: (typeof BOT_STATUSES)[number]; role?: (typeof BOT_ROLES)[number]; limit?: string; offset?: string };
      const limit = Math.min(1000, Math.max(1, Number(q.limit ?? 100)));
      return service.list(request.principal!, { ...(q.status ? { status: q.status } : {}), ...(q.role ? { role: q.role } : {}), limit, offset: Number(q.offset ?? 0) });
    },
  );

  app.post(
    '/api/v1/bots',
    { config: { access: 'bot:create' }, preValidation: async (request) => prepareBotBody(request), schema: { tags, summary: 'Create a bot', body: BotInputSchema } },
    async (request, reply) => {
      const bot = await service.create(request.principal!, request.body);
      return reply.code(201).send({ ...bot, message: `Bot ${bot.id} created`, next_steps: nextSteps(bot) });
    },
  );

  app.get('/api/v1/bots/:id', { config: { access: 'bot:read' }, schema: { tags, summary: 'Read a bot', params: IdParams } }, async (request) => {
    const bot = await service.get(request.principal!, (request.params as { id: string }).id);
    return { ...bot, next_steps: nextSteps(bot) };
  });

  app.put(
    '/api/v1/bots/:id',
    {
      config: { access: 'bot:update' },
      preValidation: async (request) => prepareBotBody(request),
      schema: { tags, summary: 'Replace the client fields of a bot', params: IdParams, body: BotInputSchema, headers: Type.Object({ 'if-match': Type.Optional(Type.String({ pattern: '^"?[0-9]{1,9}"?$' })) }) },
    },
    async (request) => {
      const id = (request.params as { id: string }).id.toLowerCase();
      const body = request.body as { id: string };
      if (body.id !== id) throw new CodexError('validation_error', `body id ${body.id} does not match the path id ${id}`, { errors: [{ path: '/id', message: 'does not match the path' }] });
      const ifMatch = request.headers['if-match'];
      const bot = await service.replace(request.principal!, id, body, ifMatch === undefined ? undefined : Number(String(ifMatch).replace(/"/g, '')));
      return { ...bot, message: `Bot ${bot.id} updated`, next_steps: nextSteps(bot) };
    },
  );

  app.delete('/api/v1/bots/:id', { config: { access: 'bot:delete' }, schema: { tags, summary: 'Stop and delete a bot', params: IdParams } }, async (request) => {
    const id = (request.params as { id: string }).id.toLowerCase();
    if (!(await service.delete(request.principal!, id))) throw new CodexError('not_found', `Bot ${id} not found`);
    return { status: 'deleted', bot_id: id, message: `Bot ${id} deleted`, next_steps: ['POST /api/v1/bots to create another bot'] };
  });

  app.post('/api/v1/bots/:id/start', { config: { access: 'bot:start' }, schema: { tags, summary: 'Start a bot', params: IdParams } }, async (request) => {
    const id = (request.params as { id: string }).id.toLowerCase();
    const result = await service.start(request.principal!, id);
    return {
      status: result.status,
      bot_id: id,
      message: result.status === 'already_running' ? `Bot ${id} is already running` : `Bot ${id} started`,
      bot_status: result.bot.status,
      next_steps: nextSteps(result.bot),
    };
  });

  app.post(
    '/api/v1/bots/:id/stop',
    { config: { access: 'bot:stop' }, schema: { tags, summary: 'Stop a bot', params: IdParams, querystring: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }) } },
    async (request) => {
      const id = (request.params as { id: string }).id.toLowerCase();
      const reason = (request.query as { reason?: string }).reason;
      const result = await service.stop(request.principal!, id, reason);
      return {
        status: result.status,
        bot_id: id,
        message: result.status === 'not_running' ? `Bot ${id} is not running` : `Bot ${id} stopped`,
        bot_status: result.bot.status,
        next_steps: nextSteps(result.bot),
      };
    },
  );

  app.post(
    '/api/v1/bots/:id/deploy-config',
    { config: { access: 'bot:deploy' }, schema: { tags, summary: 'Replace the deployment configuration', params: IdParams, body: DeploymentConfigSchema } },
    async (request) => {
      const bot = await service.deployConfig(request.principal!, (request.params as { id: string }).id, request.body);
      return { ...bot, message: 'Deployment config updated; restart to apply', next_steps: nextSteps(bot) };
    },
  );

  app.get(
    '/api/v1/bots/:id/logs',
    {
      config: { access: 'bot:read' },
      schema: {
        tags,
        summary: 'The tail of a bot’s output',
        params: IdParams,
        querystring: Type.Object({ stream: Type.Optional(enumString(['stdout', 'stderr'])), tail_bytes: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const q = request.query as { stream?: 'stdout' | 'stderr'; tail_bytes?: string };
      const tail = Math.min(1024 * 1024, Number(q.tail_bytes ?? 65_536));
      const text = await service.logs(request.principal!, (request.params as { id: string }).id, q.stream ?? 'stdout', tail);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );
}
