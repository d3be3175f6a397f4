// SPDX-License-Identifier: Apache-2.0
// Root, health, system statistics, self-awareness, guides, the dashboard's data and patch proposals.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Bot, Incident } from '@ecps/codex-registry';
import type { ServerContext } from '../context';

/** The health rule: any failed or quarantined bot is critical, else any deploying bot degraded, else healthy. */
export function systemHealth(bots: readonly Pick<Bot, 'status'>[]): { system_health: 'healthy' | 'degraded' | 'critical'; emoji: string; color: string } {
  if (bots.some((b) => b.status === 'failed' || b.status === 'error')) return { system_health: 'critical', emoji: '🔴', color: 'red' };
  if (bots.some((b) => b.status === 'deploying')) return { system_health: 'degraded', emoji: '🟡', color: 'amber' };
  return { system_health: 'healthy', emoji: '🟢', color: 'green' };
}

function recommendations(bots: readonly Bot[]) {
  const items: { priority: 'high' | 'medium' | 'low'; title: string; reason: string; action: { method: string; path: string } }[] = [];
  for (const bot of bots.filter((b) => b.status === 'error')) {
    items.push({ priority: 'high', title: `Bot ${bot.id} is quarantined`, reason: bot.last_error ?? 'too many failures', action: { method: 'POST', path: `/api/v1/bots/${bot.id}/start` } });
  }
  for (const bot of bots.filter((b) => b.status === 'failed')) {
    items.push({ priority: 'high', title: `Bot ${bot.id} failed`, reason: bot.last_error ?? 'it exited', action: { method: 'GET', path: `/api/v1/bots/${bot.id}/logs` } });
  }
  if (bots.length === 0) items.push({ priority: 'medium', title: 'Create your first bot', reason: 'the registry is empty', action: { method: 'POST', path: '/api/v1/bots' } });
  items.push({ priority: 'low', title: 'Read the API documentation', reason: 'every route, schema and error is described there', action: { method: 'GET', path: '/docs' } });
  return items;
}

/** The ECPS nodes and SW4RM agents among the bots (from their identity). */
function fleet(bots: readonly Bot[]) {
  const ecps_nodes: { bot_id: string; node_id: string; status: string; broker_url: string | null }[] = [];
  const sw4rm_agents: { bot_id: string; agent_id: string; status: string; router_addr: string | null }[] = [];
  for (const bot of bots) {
    const identity = bot.deployment_config.identity;
    if (identity?.kind === 'ecps_node') ecps_nodes.push({ bot_id: bot.id, node_id: identity.node_id, status: bot.status, broker_url: identity.broker_url ?? null });
    if (identity?.kind === 'sw4rm_agent') sw4rm_agents.push({ bot_id: bot.id, agent_id: identity.agent_id, status: bot.status, router_addr: identity.router_addr ?? null });
  }
  return { ecps_nodes, sw4rm_agents };
}

export function systemRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { registry, deployments, version } = ctx;
  const allBots = async () => (await registry.bots.list({ limit: 100_000 })).bots;
  const count = (bots: readonly Bot[], status: string) => bots.filter((b) => b.status === status).length;
  const executor = () => ({ running_processes: deployments.running(), running_containers: {}, deployment_types: deployments.types() });
  const incidentsCount = async () => (await registry.incidents.tail({ limit: 1000 })).length;

  app.get('/', { config: { access: 'public' }, schema: { tags: ['system'], summary: 'Service index' } }, async () => ({
    message: 'Codex-32 bot orchestrator',
    version,
    docs: '/docs',
    redoc: '/redoc',
    dashboard: '/api/v1/dashboard',
    features: { container_engine: 'sandbox', deployment_types: deployments.types(), isolation_levels: ['minimal', 'standard', 'strict'] },
  }));

  app.get('/health', { config: { access: 'public' }, schema: { tags: ['system'], summary: 'Liveness and storage health' } }, async (_request, reply) => {
    try {
      await registry.bots.stats();
      return { status: 'healthy', service: 'codex32', version, container_engine: 'sandbox' };
    } catch {
      return reply.code(503).send({ status: 'unhealthy', service: 'codex32', version, container_engine: 'sandbox' });
    }
  });

  app.get('/api/v1/system/stats', { config: { access: 'system:read' }, schema: { tags: ['system'] } }, async () => ({
    registry: await registry.bots.stats(),
    supervisor: { enabled: true, children: deployments.running().length },
  }));

  app.get('/api/v1/self/capabilities', { config: { access: 'system:read' }, schema: { tags: ['self'] } }, async () => {
    const caps = Object.assign({}, ...deployments.drivers.map((d) => d.capabilities())) as { sandbox?: { levels?: unknown } };
    return {
      self_healing: true,
      self_awareness: true,
      self_enhancement: { enabled: true, mode: 'proposal-and-approve', applies_changes: 'only_with_admin_api_key' },
      container_engine: 'sandbox',
      free_mode: true,
      deployment_types: deployments.types(),
      sandbox: { levels: caps.sandbox?.levels ?? {}, note: 'No level is a boundary against hostile code except strict, and strict is not a virtual machine.' },
    };
  });

  app.get('/api/v1/self/runtime', { config: { access: 'system:read' }, schema: { tags: ['self'] } }, async () => {
    const bots = await allBots();
    return { bots_total: bots.length, bots_running: bots.filter((b) => b.status === 'running').map((b) => b.id), executor: executor(), supervisor: { enabled: true } };
  });

  app.get(
    '/api/v1/self/incidents',
    { config: { access: 'system:read' }, schema: { tags: ['self'], querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) }, { additionalProperties: false }) } },
    async (request) => {
      const limit = Math.min(1000, Math.max(1, Number((request.query as { limit?: string }).limit ?? 200)));
      const incidents = await registry.incidents.tail({ limit });
      return { count: incidents.length, incidents };
    },
  );

  app.get('/api/v1/guide/hello', { config: { access: 'public' }, schema: { tags: ['guide'] } }, async () => ({
    message: 'Welcome to Codex-32, the bot orchestrator of the fleet.',
    description: 'Register bots, start and stop them, watch them live, and talk to them in plain words.',
    next: [
      { title: 'Log in', hint: 'POST /api/v1/auth/login', description: 'Get an access token with your username and password.' },
      { title: 'Create a bot', hint: 'POST /api/v1/bots', description: 'Register a script under the bots directory.' },
      { title: 'Open the dashboard', hint: 'GET /api/v1/dashboard', description: 'See every bot and incident live.' },
    ],
    quick_links: { docs: '/docs', dashboard: '/api/v1/dashboard', onboarding: '/api/v1/guide/onboarding' },
    timestamp: new Date(ctx.clock.now()).toISOString(),
  }));

  app.get('/api/v1/guide/onboarding', { config: { access: 'public' }, schema: { tags: ['guide'] } }, async () => ({
    title: 'Getting started with Codex-32',
    intro: 'Four steps from nothing to a supervised bot.',
    steps: [
      { id: 'login', number: 1, title: 'Log in', description: 'Exchange your password for tokens.', example: { method: 'POST', path: '/api/v1/auth/login', body: { username: 'admin', password: '…' } } },
      {
        id: 'create',
        number: 2,
        title: 'Create a bot',
        description: 'Name a script under the bots directory.',
        example: { method: 'POST', path: '/api/v1/bots', body: { id: 'hello', name: 'Hello', blueprint: 'hello/main.py', role: 'worker' } },
      },
      { id: 'start', number: 3, title: 'Start it', description: 'The supervisor runs and heals it.', example: { method: 'POST', path: '/api/v1/bots/hello/start' } },
      { id: 'watch', number: 4, title: 'Watch it', description: 'Live status over a WebSocket or the dashboard.', example: { method: 'GET', path: '/api/v1/dashboard' } },
    ],
    next_steps: ['GET /docs for every route', 'GET /api/v1/dashboard to watch your bots'],
  }));

  app.get('/api/v1/guide/status', { config: { access: 'system:read' }, schema: { tags: ['guide'] } }, async () => {
    const bots = await allBots();
    return {
      system_health: systemHealth(bots).system_health,
      bots: {
        total: bots.length,
        running: count(bots, 'running'),
        deploying: count(bots, 'deploying'),
        failed: count(bots, 'failed') + count(bots, 'error'),
        stopped: count(bots, 'stopped'),
        bot_ids: bots.map((b) => b.id),
      },
      executor: executor(),
      supervisor: { enabled: true, incidents_count: await incidentsCount() },
      recommendations: recommendations(bots),
      helpful_links: { docs: '/docs', dashboard: '/api/v1/dashboard', incidents: '/api/v1/self/incidents' },
      timestamp: new Date(ctx.clock.now()).toISOString(),
    };
  });

  app.get('/api/v1/guide/recommendations', { config: { access: 'system:read' }, schema: { tags: ['guide'] } }, async () => {
    const bots = await allBots();
    return { recommendations: recommendations(bots), state: { total: bots.length, health: systemHealth(bots).system_health } };
  });

  app.get('/api/v1/dashboard/data', { config: { access: 'bot:read' }, schema: { tags: ['dashboard'] } }, async () => {
    const bots = await allBots();
    const incidents: Incident[] = await registry.incidents.tail({ limit: 20 });
    return {
      health: systemHealth(bots),
      bots: {
        total: bots.length,
        running: count(bots, 'running'),
        stopped: count(bots, 'stopped'),
        deploying: count(bots, 'deploying'),
        failed: count(bots, 'failed') + count(bots, 'error'),
        items: bots.map((b) => ({
          id: b.id,
          name: b.name,
          role: b.role,
          status: b.status,
          cpu_load: b.performance.cpu_load,
          memory_usage_mb: b.performance.memory_usage_mb,
          samples: b.performance.logs.filter((l) => l.memory_usage_mb !== undefined || l.cpu_load !== undefined).map((l) => ({ cpu: l.cpu_load ?? 0, mem: l.memory_usage_mb ?? 0 })),
        })),
      },
      incidents,
      deployment_types: deployments.types(),
      fleet: fleet(bots),
      executor: executor(),
      supervisor: { enabled: true, incidents_count: await incidentsCount() },
      recommendations: recommendations(bots),
      links: { docs: '/docs', api: '/api/v1/bots', incidents: '/api/v1/self/incidents' },
    };
  });

  const patchTags = ['patches'];
  const pid = Type.Object({ pid: Type.String({ pattern: '^patch-[0-9a-f]{12}$' }) });
  const NewPatch = Type.Object(
    {
      title: Type.String({ minLength: 1, maxLength: 200 }),
      goal: Type.String({ minLength: 1, maxLength: 2000 }),
      diff: Type.String({ maxLength: 256 * 1024 }),
      rationale: Type.String({ maxLength: 10_000 }),
      risks: Type.Array(Type.String({ maxLength: 1000 }), { maxItems: 50 }),
      tests: Type.Array(Type.String({ maxLength: 1000 }), { maxItems: 50 }),
    },
    { additionalProperties: false },
  );
  app.get('/api/v1/self/patches', { config: { access: 'system:manage' }, schema: { tags: patchTags } }, async () => {
    const proposals = ctx.patches.list();
    return { count: proposals.length, proposals: proposals.map(({ proposal_id, title, goal, status, created_at }) => ({ proposal_id, title, goal, status, created_at })) };
  });
  app.post('/api/v1/self/patches/propose', { config: { access: 'system:manage' }, schema: { tags: patchTags, body: NewPatch } }, async (request, reply) => {
    const proposal = await ctx.patches.propose(request.body as never, request.principal!.sub);
    return reply.code(201).send(proposal);
  });
  app.get('/api/v1/self/patches/:pid', { config: { access: 'system:manage' }, schema: { tags: patchTags, params: pid } }, async (request) => ctx.patches.get((request.params as { pid: string }).pid));
  for (const action of ['approve', 'reject', 'apply'] as const) {
    app.post(
      `/api/v1/self/patches/:pid/${action}`,
      { config: { access: 'system:manage' }, schema: { tags: patchTags, params: pid, querystring: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }) } },
      async (request) => ctx.patches.decide((request.params as { pid: string }).pid, action, request.principal!.sub, (request.query as { reason?: string }).reason),
    );
  }
}
