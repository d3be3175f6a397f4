// SPDX-License-Identifier: Apache-2.0
// One call that opens the configured backend: bots, incidents and the event bus they publish on.
import { dirname, isAbsolute, join } from 'node:path';
import type { Clock, Logger, RandomSource } from '@ecps/core';
import { CodexEventBus } from './events';
import { JsonlIncidentLog, type IncidentStore } from './incidents';
import { JsonFileStore, type CorruptPolicy } from './json-store';
import { PostgresStore } from './pg-store';
import type { BotStore } from './store';

export type RegistryOptions = (
  | {
      backend: 'json';
      /** The registry file (`REGISTRY_FILE`). */
      file: string;
      /** The incident log (`INCIDENT_LOG`); relative paths are taken beside the registry file. Default `codex32_incidents.jsonl`. */
      incidentLog?: string;
      corruptPolicy?: CorruptPolicy;
    }
  | { backend: 'postgres'; databaseUrl: string; poolSize?: number }
) & { clock?: Clock; random?: RandomSource; logger?: Logger };

/** An open registry. `close` releases the file lock or the database pool. */
export interface Registry {
  readonly bots: BotStore;
  readonly incidents: IncidentStore;
  readonly events: CodexEventBus;
  close(): Promise<void>;
}

/**
 * Opens the JSON-file or PostgreSQL registry. Throws what {@link JsonFileStore.open} or {@link PostgresStore.open}
 * throw (`registry_locked`, `registry_corrupt`, `storage_unavailable`).
 */
export async function openRegistry(options: RegistryOptions): Promise<Registry> {
  const logger = options.logger;
  const events = new CodexEventBus((error) => logger?.error('codex event listener failed', { error: String(error) }));
  const common = { events, ...(options.clock ? { clock: options.clock } : {}), ...(options.random ? { random: options.random } : {}), ...(logger ? { logger } : {}) };
  if (options.backend === 'postgres') {
    const bots = await PostgresStore.open({ connectionString: options.databaseUrl, ...(options.poolSize ? { poolSize: options.poolSize } : {}), ...common });
    return { bots, incidents: bots.incidents, events, close: () => bots.close() };
  }
  const log = options.incidentLog ?? 'codex32_incidents.jsonl';
  const incidents = new JsonlIncidentLog({ file: isAbsolute(log) ? log : join(dirname(options.file), log), ...common });
  const bots = await JsonFileStore.open({ file: options.file, incidents, ...(options.corruptPolicy ? { corruptPolicy: options.corruptPolicy } : {}), ...common });
  return {
    bots,
    incidents,
    events,
    async close() {
      await bots.close();
      await incidents.close();
    },
  };
}
