// SPDX-License-Identifier: Apache-2.0
// Building and checking bot records: client input → a complete record with defaults, stored records → checked.
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { CodexError, type FieldError } from './errors';
import { BotInputSchema, BotSchema, RegistryFileSchema, type Bot, type BotInput, type DeploymentConfig, type PerformanceLogEntry, type RegistryFile } from './schema';

/** Fields only the server writes; a client that sends one gets a `validation_error`. */
export const SERVER_OWNED_FIELDS = [
  'status', 'desired_state', 'process_id', 'process_started_at', 'sandbox_id', 'k8s_pod_name', 'k8s_deployment_name',
  'performance', 'created_at', 'updated_at', 'started_at', 'stopped_at', 'last_error', 'error_count', 'exit_code',
  'failure_count', 'next_restart_at', 'quarantined_at', 'revision',
] as const;

/** The ring of `performance.logs` keeps this many entries. */
export const PERFORMANCE_LOG_LIMIT = 100;
const EXTRA_CONFIG_MAX_BYTES = 16 * 1024;

const checkers = new Map<TSchema, TypeCheck<TSchema>>();
function check<T extends TSchema>(schema: T, value: unknown, what: string): void {
  let checker = checkers.get(schema);
  if (!checker) checkers.set(schema, (checker = TypeCompiler.Compile(schema)));
  if (checker.Check(value)) return;
  const errors: FieldError[] = [...checker.Errors(value)].slice(0, 20).map((e) => ({ path: e.path || '/', message: e.message }));
  throw new CodexError('validation_error', `${what}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { errors });
}

/** ISO 8601 UTC with `Z`, the one time format of every record. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Validates a client's bot body (create or replace): lower-cases `id`, rejects server-owned fields, unknown fields,
 * bad patterns, an absolute blueprint or one with a `..` segment, and an `extra_config` over 16 KiB.
 * Throws `CodexError` `validation_error` with one entry per problem in `errors`.
 */
export function parseBotInput(body: unknown): BotInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CodexError('validation_error', 'a bot must be a JSON object');
  const input: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  const owned = SERVER_OWNED_FIELDS.filter((f) => f in input);
  if (owned.length > 0) {
    throw new CodexError('validation_error', `server-owned field(s) cannot be set: ${owned.join(', ')}`, {
      errors: owned.map((f) => ({ path: `/${f}`, message: 'is set by the server' })),
    });
  }
  if (typeof input['id'] === 'string') input['id'] = input['id'].toLowerCase();
  check(BotInputSchema, input, 'invalid bot');
  const extra = (input['deployment_config'] as { extra_config?: unknown } | undefined)?.extra_config;
  if (extra !== undefined && Buffer.byteLength(JSON.stringify(extra)) > EXTRA_CONFIG_MAX_BYTES) {
    throw new CodexError('validation_error', 'deployment_config.extra_config is larger than 16 KiB', {
      errors: [{ path: '/deployment_config/extra_config', message: 'larger than 16 KiB' }],
    });
  }
  return input as unknown as BotInput;
}

/** A complete `deployment_config` from a partial one, with the defaults of the model. */
export function withDeploymentDefaults(config: BotInput['deployment_config'] = {}): DeploymentConfig {
  const autoRestart = (config.extra_config as { auto_restart?: unknown } | undefined)?.auto_restart;
  return {
    deployment_type: config.deployment_type ?? 'local_process',
    interpreter: config.interpreter ?? 'python3',
    args: config.args ?? [],
    environment_vars: config.environment_vars ?? {},
    memory_limit: config.memory_limit ?? '512Mi',
    memory_request: config.memory_request ?? '128Mi',
    cpu_request: config.cpu_request ?? '100m',
    cpu_limit: config.cpu_limit ?? '500m',
    image_uri: config.image_uri ?? null,
    replicas: config.replicas ?? 1,
    volumes: config.volumes ?? {},
    ports: config.ports ?? {},
    isolation_level: config.isolation_level ?? 'minimal',
    health_check: config.health_check ?? { type: 'none' },
    restart_policy: config.restart_policy ?? (autoRestart === false ? 'never' : 'on-failure'),
    identity: config.identity ?? null,
    extra_config: config.extra_config ?? {},
  };
}

/**
 * A new bot record (status `created`, revision 1) from client input; the input is validated first.
 * Throws `CodexError` `validation_error`.
 */
export function newBot(body: unknown, nowMs: number): Bot {
  const input = parseBotInput(body);
  const now = isoTime(nowMs);
  return {
    id: input.id,
    name: input.name,
    description: input.description ?? '',
    version: input.version ?? '1.0.0',
    role: input.role ?? 'worker',
    blueprint: input.blueprint,
    deployment_config: withDeploymentDefaults(input.deployment_config),
    status: 'created',
    desired_state: 'stopped',
    process_id: null,
    process_started_at: null,
    sandbox_id: null,
    k8s_pod_name: null,
    k8s_deployment_name: null,
    performance: { cpu_load: 0, memory_usage_mb: 0, requests_per_second: 0, error_rate: 0, uptime_seconds: 0, last_heartbeat: null, logs: [] },
    created_at: now,
    updated_at: now,
    started_at: null,
    stopped_at: null,
    last_error: null,
    error_count: 0,
    exit_code: null,
    failure_count: 0,
    next_restart_at: null,
    quarantined_at: null,
    tags: input.tags ?? {},
    annotations: input.annotations ?? {},
    revision: 1,
  };
}

/** The client fields of `bot` replaced by a validated body (PUT semantics); server-owned fields are kept. */
export function replaceClientFields(bot: Bot, body: unknown): Bot {
  const fresh = newBot(body, Date.parse(bot.created_at));
  if (fresh.id !== bot.id) throw new CodexError('validation_error', `body id ${fresh.id} does not match ${bot.id}`, { errors: [{ path: '/id', message: 'does not match the path' }] });
  const { description, version, role, blueprint, deployment_config, tags, annotations, name } = fresh;
  return { ...bot, name, description, version, role, blueprint, deployment_config, tags, annotations };
}

/** Throws `CodexError` `validation_error` unless `bot` is a complete, valid record. */
export function assertBot(bot: unknown): asserts bot is Bot {
  check(BotSchema, bot, 'invalid bot record');
}

/** Throws `CodexError` `validation_error` unless `file` is a valid registry file with unique ids and names. */
export function assertRegistryFile(file: unknown): asserts file is RegistryFile {
  check(RegistryFileSchema, file, 'invalid registry file');
  const ids = new Set<string>();
  const names = new Set<string>();
  for (const bot of (file as RegistryFile).bots) {
    if (ids.has(bot.id)) throw new CodexError('validation_error', `duplicate bot id ${bot.id}`);
    if (names.has(bot.name.toLowerCase())) throw new CodexError('validation_error', `duplicate bot name ${bot.name}`);
    ids.add(bot.id);
    names.add(bot.name.toLowerCase());
  }
}

/** `bot` with `entry` appended to `performance.logs`, keeping the last {@link PERFORMANCE_LOG_LIMIT}. */
export function appendPerformanceLog(bot: Bot, entry: PerformanceLogEntry): Bot {
  const logs = [...bot.performance.logs, entry].slice(-PERFORMANCE_LOG_LIMIT);
  return { ...bot, performance: { ...bot.performance, logs } };
}

/**
 * Megabytes of a memory quantity: `"512Mi"` → 512, `"1Gi"` → 1024, bare digits are megabytes.
 * Throws `CodexError` `validation_error` for anything else.
 */
export function parseMemoryMb(quantity: string): number {
  const match = /^([0-9]+)(Mi|Gi)?$/.exec(quantity);
  if (!match) throw new CodexError('validation_error', `bad memory quantity ${JSON.stringify(quantity)}`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}
