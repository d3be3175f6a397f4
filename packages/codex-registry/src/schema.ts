// SPDX-License-Identifier: Apache-2.0
// The bot model as JSON Schema (TypeBox): one definition gives the TypeScript types, the validation of client input
// and of stored records, and the schemas a management API can hand to its HTTP framework.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const BOT_STATUSES = ['created', 'deploying', 'running', 'stopping', 'stopped', 'failed', 'error'] as const;
export const BOT_ROLES = ['worker', 'collector', 'analyzer', 'aggregator', 'orchestrator', 'custom'] as const;
export const DEPLOYMENT_TYPES = ['local_process', 'sandbox', 'custom_container', 'container', 'kubernetes_pod'] as const;
export const ISOLATION_LEVELS = ['minimal', 'standard', 'strict'] as const;

// The union schema, typed as the union of its values (TypeBox cannot map a tuple of literals by itself).
const literals = <T extends readonly string[]>(values: T) => Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v))));
const stringMap = (keyPattern: string, maxValue: number) =>
  Type.Record(Type.String({ pattern: keyPattern }), Type.String({ maxLength: maxValue }), { maxProperties: 64, additionalProperties: false });
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const isoTime = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' });
const port = Type.Integer({ minimum: 1, maximum: 65_535 });
const probeTiming = {
  interval_sec: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 10 })),
  timeout_sec: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 2 })),
  failure_threshold: Type.Optional(Type.Integer({ minimum: 1, default: 3 })),
};
const relativePath = Type.String({ minLength: 1, maxLength: 512, pattern: '^(?!/)(?!.*(^|/)\\.\\.(/|$)).*$' });

export const HealthCheckSchema = Type.Union([
  Type.Object({ type: Type.Literal('none') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('http'), port, path: Type.Optional(Type.String({ pattern: '^/', maxLength: 512, default: '/health' })), ...probeTiming }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('tcp'), port, ...probeTiming }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('heartbeat_file'), path: relativePath, max_age_sec: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 30 })) },
    { additionalProperties: false },
  ),
]);

const addr = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\s]+$' });
const nodeId = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' });
/** Who a bot is on the fleet's networks, handed to it in its environment (see the supervisor's README). */
export const BotIdentitySchema = Type.Union([
  Type.Object(
    { kind: Type.Literal('ecps_node'), node_id: nodeId, broker_url: Type.Optional(addr), key_ref: Type.Optional(addr), profile: Type.Optional(literals(['edge-lite', 'standard', 'cloud-fleet'])) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('sw4rm_agent'),
      agent_id: nodeId,
      router_addr: Type.Optional(addr),
      registry_addr: Type.Optional(addr),
      scheduler_addr: Type.Optional(addr),
      key_ref: Type.Optional(addr),
    },
    { additionalProperties: false },
  ),
]);

const quantity = Type.String({ pattern: '^[0-9]+(Mi|Gi)?$', maxLength: 16 });
export const DeploymentConfigSchema = Type.Object(
  {
    deployment_type: Type.Optional(literals(DEPLOYMENT_TYPES)),
    interpreter: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    args: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 32 })),
    environment_vars: Type.Optional(stringMap('^[A-Z_][A-Z0-9_]{0,127}$', 4096)),
    memory_limit: Type.Optional(quantity),
    memory_request: Type.Optional(quantity),
    cpu_request: Type.Optional(Type.String({ maxLength: 16 })),
    cpu_limit: Type.Optional(Type.String({ maxLength: 16 })),
    image_uri: Type.Optional(nullable(Type.String({ maxLength: 1024 }))),
    replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    volumes: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    ports: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    isolation_level: Type.Optional(literals(ISOLATION_LEVELS)),
    health_check: Type.Optional(HealthCheckSchema),
    restart_policy: Type.Optional(literals(['on-failure', 'never'])),
    identity: Type.Optional(nullable(BotIdentitySchema)),
    extra_config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

/** The fields a client may set: the body of create and replace. */
export const BotInputSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9_-]{1,64}$' }),
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }),
    description: Type.Optional(Type.String({ maxLength: 10_000 })),
    version: Type.Optional(Type.String({ maxLength: 32, pattern: '^[0-9A-Za-z.+-]+$' })),
    role: Type.Optional(literals(BOT_ROLES)),
    blueprint: relativePath,
    deployment_config: Type.Optional(DeploymentConfigSchema),
    tags: Type.Optional(stringMap('^.{1,63}$', 1024)),
    annotations: Type.Optional(stringMap('^.{1,63}$', 1024)),
  },
  { additionalProperties: false },
);

export const PerformanceLogEntrySchema = Type.Object(
  {
    timestamp: isoTime,
    event: Type.String(),
    status: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    cpu_load: Type.Optional(Type.Number()),
    memory_usage_mb: Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);

export const PerformanceSchema = Type.Object(
  {
    cpu_load: Type.Number(),
    memory_usage_mb: Type.Number(),
    requests_per_second: Type.Number(),
    error_rate: Type.Number(),
    uptime_seconds: Type.Number(),
    last_heartbeat: nullable(isoTime),
    logs: Type.Array(PerformanceLogEntrySchema, { maxItems: 100 }),
  },
  { additionalProperties: false },
);

/** A stored bot: the client fields with every default filled in, plus the fields only the server writes. */
export const BotSchema = Type.Object(
  {
    id: BotInputSchema.properties.id,
    name: BotInputSchema.properties.name,
    description: Type.String({ maxLength: 10_000 }),
    version: Type.String({ maxLength: 32 }),
    role: literals(BOT_ROLES),
    blueprint: relativePath,
    deployment_config: Type.Required(DeploymentConfigSchema),
    status: literals(BOT_STATUSES),
    desired_state: literals(['running', 'stopped']),
    process_id: nullable(Type.Integer({ minimum: 1 })),
    process_started_at: nullable(Type.Integer({ minimum: 0 })),
    sandbox_id: nullable(Type.String()),
    k8s_pod_name: nullable(Type.String({ maxLength: 253 })),
    k8s_deployment_name: nullable(Type.String({ maxLength: 253 })),
    performance: PerformanceSchema,
    created_at: isoTime,
    updated_at: isoTime,
    started_at: nullable(isoTime),
    stopped_at: nullable(isoTime),
    last_error: nullable(Type.String()),
    error_count: Type.Integer({ minimum: 0 }),
    exit_code: nullable(Type.Integer()),
    failure_count: Type.Integer({ minimum: 0 }),
    next_restart_at: nullable(isoTime),
    quarantined_at: nullable(isoTime),
    tags: stringMap('^.{1,63}$', 1024),
    annotations: stringMap('^.{1,63}$', 1024),
    revision: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

/** The registry file and the export/import format. */
export const RegistryFileSchema = Type.Object(
  {
    schema_version: Type.Literal(1),
    bots: Type.Array(BotSchema),
    metadata: Type.Object({ total_bots: Type.Integer({ minimum: 0 }), last_updated: isoTime }, { additionalProperties: true }),
  },
  { additionalProperties: false },
);

export type BotStatus = (typeof BOT_STATUSES)[number];
export type BotRole = (typeof BOT_ROLES)[number];
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];
export type HealthCheck = Static<typeof HealthCheckSchema>;
export type BotIdentity = Static<typeof BotIdentitySchema>;
export type DeploymentConfigInput = Static<typeof DeploymentConfigSchema>;
export type DeploymentConfig = Static<typeof BotSchema>['deployment_config'];
export type BotInput = Static<typeof BotInputSchema>;
export type BotPerformance = Static<typeof PerformanceSchema>;
export type PerformanceLogEntry = Static<typeof PerformanceLogEntrySchema>;
export type Bot = Static<typeof BotSchema>;
export type RegistryFile = Static<typeof RegistryFileSchema>;
