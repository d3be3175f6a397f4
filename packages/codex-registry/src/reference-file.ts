// SPDX-License-Identifier: Apache-2.0
// Files written by the reference implementation (no `schema_version`) are migrated when they are loaded.
import { CodexError } from './errors';
import { newBot } from './model';
import { BOT_STATUSES, type Bot, type BotStatus, type RegistryFile } from './schema';

const CLIENT_FIELDS = ['id', 'name', 'description', 'version', 'role', 'blueprint', 'deployment_config', 'tags', 'annotations'] as const;
/** Reference statuses we never produce; a bot in one of them was not running under any supervisor of ours. */
const RETIRED_STATUSES = new Set(['registered', 'paused', 'terminated']);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * A registry file of the current format from a reference file (`{bots: [...] | {id: bot}}`): client fields are checked
 * like new input, retired statuses become `stopped`, valid timestamps and counters are kept.
 * Throws `CodexError` `validation_error` for anything that is not a migratable reference file, including a bot
 * without a valid id: such a file is corrupt, not empty.
 */
export function migrateReferenceFile(raw: unknown, nowMs: number): RegistryFile {
  const bots = (raw as { bots?: unknown } | null)?.bots;
  if (typeof raw !== 'object' || raw === null || typeof bots !== 'object' || bots === null) {
    throw new CodexError('validation_error', 'neither a registry file nor a reference registry file');
  }
  const migrated = Object.values(bots as Record<string, unknown>).map((entry) => migrateBot(entry, nowMs));
  return { schema_version: 1, bots: migrated, metadata: { total_bots: migrated.length, last_updated: new Date(nowMs).toISOString() } };
}

function migrateBot(entry: unknown, nowMs: number): Bot {
  if (typeof entry !== 'object' || entry === null) throw new CodexError('validation_error', 'a reference bot is not an object');
  const old = entry as Record<string, unknown>;
  const client = Object.fromEntries(CLIENT_FIELDS.filter((f) => old[f] !== undefined && old[f] !== null).map((f) => [f, old[f]]));
  const bot = newBot(client, nowMs);
  const status = typeof old['status'] === 'string' ? old['status'] : 'created';
  bot.status = RETIRED_STATUSES.has(status) ? 'stopped' : (BOT_STATUSES as readonly string[]).includes(status) ? (status as BotStatus) : 'stopped';
  for (const field of ['created_at', 'updated_at', 'started_at', 'stopped_at'] as const) {
    const value = old[field];
    if (typeof value === 'string' && ISO.test(value)) bot[field] = value;
  }
  if (Number.isInteger(old['error_count']) && (old['error_count'] as number) >= 0) bot.error_count = old['error_count'] as number;
  if (typeof old['last_error'] === 'string') bot.last_error = old['last_error'];
  if (Number.isInteger(old['process_id']) && (old['process_id'] as number) > 0) bot.process_id = old['process_id'] as number;
  return bot;
}
