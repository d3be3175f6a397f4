// SPDX-License-Identifier: Apache-2.0
// /api/v1/intelligent-bots: the bot builder (create from a description, dry run) and its static catalogues.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { analyzeDescription } from '../builder/analyze';
import { buildBot } from '../builder/builder';
import type { ServerContext } from '../context';

const Description = Type.Object({ description: Type.String({ minLength: 1, maxLength: 10_000 }) }, { additionalProperties: false });

export function builderRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const tags = ['intelligent-bots'];
  const create = async (description: string) => {
    const built = await buildBot(description, { botsDirectory: ctx.botsDirectory, store: ctx.registry.bots, interpreter: ctx.builderInterpreter, nowMs: ctx.clock.now() });
    return {
      success: true,
      bot_name: built.analysis.name,
      bot_path: built.bot_path,
      bot_id: built.bot.id,
      message: `Bot ${built.bot.id} generated and registered; start it with POST /api/v1/bots/${built.bot.id}/start`,
      created_files: built.created_files,
      ready_to_deploy: ctx.deployments.types().includes(built.bot.deployment_config.deployment_type),
      task_type: built.analysis.task_type,
      complexity: built.analysis.complexity,
      features: built.analysis.features,
    };
  };

  app.get('/api/v1/intelligent-bots/dashboard', { config: { access: 'public' }, schema: { tags } }, async (_request, reply) => reply.redirect('/api/v1/dashboard', 308));

  app.post('/api/v1/intelligent-bots/create-from-description', { config: { access: 'bot:create' }, schema: { tags, body: Description } }, async (request, reply) =>
    reply.code(201).send(await create((request.body as { description: string }).description)),
  );
  app.post('/api/v1/intelligent-bots/quick-create', { config: { access: ['bot:create', 'system:manage'] }, schema: { tags, body: Description } }, async (request, reply) =>
    reply.code(201).send(await create((request.body as { description: string }).description)),
  );
  app.post('/api/v1/intelligent-bots/test-description', { config: { access: 'bot:read' }, schema: { tags, body: Description } }, async (request) =>
    analyzeDescription((request.body as { description: string }).description),
  );

  const templates = {
    worker: 'A long-running loop that processes work items.',
    collector: 'Fetches data on a schedule and stores it.',
    api: 'Calls an HTTP API and records the answers.',
    analyzer: 'Examines collected data and reports findings.',
    monitor: 'Watches a resource and raises alerts.',
  };
  app.get('/api/v1/intelligent-bots/templates', { config: { access: 'bot:read' }, schema: { tags } }, async () => ({ templates }));
  app.get('/api/v1/intelligent-bots/examples', { config: { access: 'bot:read' }, schema: { tags } }, async () => ({
    examples: ['Collect weather data every hour and save it as csv', 'Monitor the api endpoint and alert on error', 'Analyze log files daily and email a summary'],
  }));
  app.get('/api/v1/intelligent-bots/help', { config: { access: 'bot:read' }, schema: { tags } }, async () => ({
    help: 'Describe what the bot should do in plain words. The first three words of the first line name it; keywords choose its task, frequency, complexity and features.',
    endpoints: ['POST /api/v1/intelligent-bots/test-description', 'POST /api/v1/intelligent-bots/create-from-description'],
  }));
}
