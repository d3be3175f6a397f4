// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/codex-registry.

export { CodexError, isCodexError, CODEX_ERROR_REASONS, EXIT_CODES } from './errors';
export {
  BOT_STATUSES,
  BOT_ROLES,
  DEPLOYMENT_TYPES,
  ISOLATION_LEVELS,
  BotSchema,
  BotInputSchema,
  DeploymentConfigSchema,
  HealthCheckSchema,
  BotIdentitySchema,
  RegistryFileSchema,
} from './schema';
export {
  newBot,
  parseBotInput,
  replaceClientFields,
  withDeploymentDefaults,
  assertBot,
  assertRegistryFile,
  appendPerformanceLog,
  parseMemoryMb,
  isoTime,
  SERVER_OWNED_FIELDS,
  PERFORMANCE_LOG_LIMIT,
} from './model';
export { applyBotEvent, canApply, TRANSITIONS } from './status-machine';
export { CodexEventBus, publishBotChange } from './events';
export { statsOf, requireBot } from './store';
export { atomicWriteFile, nodeDurableFs } from './atomic-write';
export { acquireFileLock } from './file-lock';
export { JsonFileStore } from './json-store';
export { PostgresStore } from './pg-store';
export { MIGRATIONS, migrate as migratePostgres } from './pg-migrations';
export { JsonlIncidentLog, makeIncident, recordIncidentOrLog, INCIDENT_KINDS } from './incidents';
export { migrateReferenceFile } from './reference-file';
export { processStartTime, isSameProcess } from './process-identity';
export { KeyedMutex } from './keyed-mutex';
export { openRegistry } from './registry';

export type { CodexErrorReason, FieldError } from './errors';
export type {
  Bot,
  BotInput,
  BotStatus,
  BotRole,
  BotIdentity,
  BotPerformance,
  PerformanceLogEntry,
  DeploymentConfig,
  DeploymentConfigInput,
  HealthCheck,
  IsolationLevel,
  RegistryFile,
} from './schema';
export type { BotEvent, BotEventType } from './status-machine';
export type { CodexEvent, CodexEventMap, CodexEventType, CodexEventListener } from './events';
export type { BotStore, BotQuery, RegistryStats } from './store';
export type { DurableFs } from './atomic-write';
export type { FileLock, FileLockOptions, LockOwner } from './file-lock';
export type { JsonFileStoreOptions, CorruptPolicy } from './json-store';
export type { PostgresStoreOptions } from './pg-store';
export type { Migration } from './pg-migrations';
export type { Incident, IncidentKind, IncidentQuery, IncidentStore, NewIncident, JsonlIncidentLogOptions } from './incidents';
export type { Registry, RegistryOptions } from './registry';
