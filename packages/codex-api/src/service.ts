// SPDX-License-Identifier: Apache-2.0
// The service layer: every bot operation, with its permission check, shared by REST and the conversation channel.
import { newBot, replaceClientFields, requireBot, withDeploymentDefaults, parseBotInput, type Bot, type BotQuery, type Registry } from '@ecps/codex-registry';
import { systemClock, type Clock } from '@ecps/core';
import type { Deployments } from './deployments';
import { ApiError } from './errors';
import { hasPermission, type Permission, type Principal } from './permissions';

/** The `next_steps` hints of a bot in its status. */
export function nextSteps(bot: Pick<Bot, 'id' | 'status'>): string[] {
  const p = `/api/v1/bots/${bot.id}`;
  switch (bot.status) {
    case 'created':
    case 'stopped':
      return [`POST ${p}/start to run it`, `PUT ${p} to edit it`];
    case 'deploying':
    case 'running':
    case 'stopping':
      return [`POST ${p}/stop to stop it`, `GET ${p}/logs to read its output`, 'Connect to /ws/updates for live status'];
    case 'failed':
      return [`GET ${p}/logs to inspect the failure`, `POST ${p}/start to retry`];
    case 'error':
      return ['Bot is quarantined; see GET /api/v1/self/incidents', `POST ${p}/start to clear the quarantine and retry`];
  }
}

/** Throws `ApiError` `forbidden` unless the principal holds `permission`. */
export function requirePermission(principal: Principal, permission: Permission): void {
  if (!hasPermission(principal, permission)) throw new ApiError('forbidden', `missing permission ${permission}`);
}

/**
 * Bot operations on behalf of a principal. Errors: `ApiError` `forbidden`; `CodexError` `not_found`, `validation_error`,
 * `conflict`, `revision_conflict`, `invalid_transition`, `unsupported_deployment_type`, `script_not_found`, ….
 */
export class BotService {
  constructor(
    readonly registry: Registry,
    readonly deployments: Deployments,
    private readonly clock: Clock = systemClock,
  ) {}

  async list(principal: Principal, query: BotQuery) {
    requirePermission(principal, 'bot:read');
    const { bots, total } = await this.registry.bots.list(query);
    const stats = await this.registry.bots.stats();
    const next_steps = total === 0 ? ['POST /api/v1/bots to create your first bot'] : ['GET /api/v1/bots/{id} for details', 'Connect to /ws/updates for live status'];
    return { bots, total, stats, next_steps, help: '/docs' };
  }

  async get(principal: Principal, id: string) {
    requirePermission(principal, 'bot:read');
    return this.mustGet(id);
  }

  /** Resolves by id or, failing that, by name (case-insensitive). */
  async find(id: string): Promise<Bot | null> {
    return (await this.registry.bots.get(id.toLowerCase())) ?? (await this.registry.bots.getByName(id));
  }

  async create(principal: Principal, body: unknown): Promise<Bot> {
    requirePermission(principal, 'bot:create');
    return this.registry.bots.create(newBot(body, this.clock.now()));
  }

  async replace(principal: Principal, id: string, body: unknown, ifMatch?: number): Promise<Bot> {
    requirePermission(principal, 'bot:update');
    parseBotInput(body);
    return this.registry.bots.update(id, (bot) => replaceClientFields(bot, body), ifMatch);
  }

  async deployConfig(principal: Principal, id: string, config: unknown): Promise<Bot> {
    requirePermission(principal, 'bot:deploy');
    const bot = await this.mustGet(id);
    const checked = parseBotInput({ id: bot.id, name: bot.name, blueprint: bot.blueprint, deployment_config: config });
    return this.registry.bots.update(id, (b) => ({ ...b, deployment_config: withDeploymentDefaults(checked.deployment_config) }));
  }

  async delete(principal: Principal, id: string): Promise<boolean> {
    requirePermission(principal, 'bot:delete');
    const bot = await this.mustGet(id);
    const driver = this.deployments.drivers.find((d) => d.deploymentTypes.includes(bot.deployment_config.deployment_type));
    return driver ? driver.delete(id) : this.registry.bots.delete(id);
  }

  async start(principal: Principal, id: string) {
    requirePermission(principal, 'bot:start');
    const bot = await this.mustGet(id);
    return this.deployments.driverFor(bot).start(id);
  }

  async stop(principal: Principal, id: string, reason?: string) {
    requirePermission(principal, 'bot:stop');
    const bot = await this.mustGet(id);
    const driver = this.deployments.drivers.find((d) => d.deploymentTypes.includes(bot.deployment_config.deployment_type));
    if (!driver) return { status: 'not_running' as const, bot };
    return driver.stop(id, reason ?? 'stopped by request');
  }

  async logs(principal: Principal, id: string, stream: 'stdout' | 'stderr', tailBytes: number): Promise<string> {
    requirePermission(principal, 'bot:read');
    const bot = await this.mustGet(id);
    const driver = this.deployments.drivers.find((d) => d.deploymentTypes.includes(bot.deployment_config.deployment_type));
    return driver ? driver.readLogs(id, stream, tailBytes) : '';
  }

  private mustGet(id: string): Promise<Bot> {
    return requireBot(this.registry.bots, id.toLowerCase());
  }
}
