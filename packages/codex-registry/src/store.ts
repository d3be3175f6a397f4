// SPDX-License-Identifier: Apache-2.0
// The contract every bot store keeps, whatever it stores bots in.
import { CodexError } from './errors';
import type { CodexEventBus } from './events';
import type { Bot, BotRole, BotStatus, RegistryFile } from './schema';

export interface BotQuery {
  status?: BotStatus;
  role?: BotRole;
  limit?: number;
  offset?: number;
}

export interface RegistryStats {
  total_bots: number;
  bots_by_status: Record<string, number>;
  /** Bots with status `running`. */
  active_bots: number;
  /** Bots with status `failed` or `error`. */
  failed_bots: number;
}

/**
 * A durable set of bots. Every mutation is durable before its promise resolves and then publishes its events on
 * `events` (`bot.created`, `bot.updated`, `bot.status`, `bot.deleted`). Mutations of one bot never lose each other's
 * changes, whether they come from this process or (for stores shared between servers) another one.
 *
 * Errors (`CodexError`): `conflict` (duplicate id or name), `not_found`, `revision_conflict` (`expectedRevision`
 * differs), `validation_error` (an update produced an invalid record), `storage_unavailable`, `closed`.
 */
export interface BotStore {
  readonly events: CodexEventBus;
  /** Bots in creation order, filtered; `total` counts every match before `offset` and `limit`. */
  list(query?: BotQuery): Promise<{ bots: Bot[]; total: number }>;
  get(id: string): Promise<Bot | null>;
  /** Case-insensitive. */
  getByName(name: string): Promise<Bot | null>;
  create(bot: Bot): Promise<Bot>;
  /**
   * Read-modify-write of one bot: `fn` gets a private copy and returns the new record. The store keeps `id`, sets
   * `revision` to the old one + 1 and `updated_at` to now. With `expectedRevision`, a different stored revision is a
   * `revision_conflict`; without it, a concurrent writer makes the store re-read and run `fn` again. `fn` may throw to
   * abort (e.g. an `invalid_transition`); nothing is written then.
   */
  update(id: string, fn: (bot: Bot) => Bot, expectedRevision?: number): Promise<Bot>;
  /** False when there was no such bot. */
  delete(id: string): Promise<boolean>;
  stats(): Promise<RegistryStats>;
  /** Every bot, in the registry file format (backup). */
  export(): Promise<RegistryFile>;
  /**
   * Restores a backup. `merge: false` replaces the registry; `merge: true` keeps bots the file does not name and
   * replaces those it does. All or nothing: a bad file or a name clash changes nothing.
   */
  import(file: RegistryFile, options: { merge: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** Counts of a set of bots, in the shape of {@link RegistryStats}. */
export function statsOf(statuses: Iterable<BotStatus>): RegistryStats {
  const byStatus: Record<string, number> = {};
  let total = 0;
  for (const status of statuses) {
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    total++;
  }
  return { total_bots: total, bots_by_status: byStatus, active_bots: byStatus['running'] ?? 0, failed_bots: (byStatus['failed'] ?? 0) + (byStatus['error'] ?? 0) };
}

/**
 * The bot with this id.
 * @throws CodexError `not_found` when the store has none.
 */
export async function requireBot(store: Pick<BotStore, 'get'>, id: string): Promise<Bot> {
  const bot = await store.get(id);
  if (!bot) throw new CodexError('not_found', `Bot ${id} not found`);
  return bot;
}
