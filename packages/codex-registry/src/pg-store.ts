// SPDX-License-Identifier: Apache-2.0
// The bot store for fleets that outgrow one server: PostgreSQL with optimistic concurrency and change notifications.
import pg from 'pg';
import type { Notification, PoolClient, QueryResultRow } from 'pg';
import { cryptoRandom, silentLogger, systemClock, toHex, type Clock, type Logger, type RandomSource } from '@ecps/core';
import { CodexError, isCodexError } from './errors';
import { CodexEventBus, publishBotChange } from './events';
import { incidentLimit, makeIncident, type Incident, type IncidentQuery, type IncidentStore, type NewIncident } from './incidents';
import { KeyedMutex } from './keyed-mutex';
import { assertBot, assertRegistryFile, isoTime } from './model';
import { migrate } from './pg-migrations';
import { statsOf, type BotQuery, type BotStore, type RegistryStats } from './store';
import type { Bot, BotStatus, RegistryFile } from './schema';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  connectionString: string;
  /** Connections in the pool (default 20). */
  poolSize?: number;
  events?: CodexEventBus;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

/** Columns written from a bot record, in one order for INSERT and UPDATE. */
const COLUMNS = [
  'id', 'name', 'description', 'version', 'role', 'blueprint', 'deployment_config', 'status', 'desired_state', 'process_id',
  'process_started_at', 'sandbox_id', 'performance', 'last_error', 'error_count', 'failure_count', 'next_restart_at',
  'quarantined_at', 'exit_code', 'tags', 'annotations', 'revision', 'created_at', 'updated_at', 'started_at', 'stopped_at',
  'k8s_deployment_name', 'k8s_pod_name',
] as const satisfies readonly (keyof Bot)[];
const JSON_COLUMNS = new Set<string>(['deployment_config', 'performance', 'tags', 'annotations']);
const TIME_COLUMNS = new Set<string>(['next_restart_at', 'quarantined_at', 'created_at', 'updated_at', 'started_at', 'stopped_at']);
const INSERT_SQL = `INSERT INTO bots (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`;
const UPSERT_SQL = `${INSERT_SQL.replace(' RETURNING *', '')} ON CONFLICT (id) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'id' && c !== 'revision')
  .map((c) => `${c} = EXCLUDED.${c}`)
  .join(', ')}, revision = GREATEST(bots.revision + 1, EXCLUDED.revision)`;
const UPDATE_SQL = `UPDATE bots SET ${COLUMNS.slice(1).map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1 AND revision = $${COLUMNS.length + 1} RETURNING *`;
/** Attempts of a read-modify-write that keeps losing to concurrent writers before it gives up with a conflict. */
const MAX_ATTEMPTS = 100;

/**
 * The PostgreSQL {@link BotStore}. `open` migrates the schema (under an advisory lock) and listens on the
 * `codex_bots` and `codex_incidents` channels: changes made by other servers are published on `events` with
 * `remote: true`. Updates are optimistic (`UPDATE … WHERE revision = $n`); concurrent writers in one process are
 * serialized per bot first, so retries only happen between servers. `incidents` is the incident store on the same database.
 *
 * Errors (`CodexError`): `storage_unavailable` when the database cannot be reached, plus those of {@link BotStore}.
 */
export class PostgresStore implements BotStore {
  readonly events: CodexEventBus;
  readonly incidents: IncidentStore;
  /** Our `application_name`: notifications carrying it are our own and already published. */
  readonly origin: string;
  private readonly perBot = new KeyedMutex();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private listener: pg.Client | null = null;
  private remoteQueue: Promise<void> = Promise.resolve();
  private closed = false;
  private reconnectTimer: ReturnType<Clock['setTimeout']> | null = null;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresStoreOptions,
    origin: string,
  ) {
    this.origin = origin;
    this.events = options.events ?? new CodexEventBus();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.incidents = new PostgresIncidentStore(this, options.clock, options.random);
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const origin = `codex-${toHex((options.random ?? cryptoRandom).bytes(6))}`;
    const pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 20, application_name: origin });
    pool.on('error', () => {}); // an idle client's connection dropped; the next query reports it
    const store = new PostgresStore(pool, options, origin);
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
      await store.listen();
    } catch (cause) {
      await store.close();
      throw isCodexError(cause) ? cause : new CodexError('storage_unavailable', 'cannot open the PostgreSQL registry', { cause });
    }
    return store;
  }

  async list(query: BotQuery = {}): Promise<{ bots: Bot[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.status !== undefined) where.push(`status = $${params.push(query.status)}`);
    if (query.role !== undefined) where.push(`role = $${params.push(query.role)}`);
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = Number((await this.query<{ n: string }>(`SELECT count(*) AS n FROM bots ${filter}`, params)).rows[0]?.n ?? 0);
    const page = `${query.limit === undefined ? '' : `LIMIT $${params.push(query.limit)}`} OFFSET $${params.push(query.offset ?? 0)}`;
    const rows = (await this.query(`SELECT * FROM bots ${filter} ORDER BY created_at, id ${page}`, params)).rows;
    return { bots: rows.map(botFromRow), total };
  }

  async get(id: string): Promise<Bot | null> {
    const row = (await this.query('SELECT * FROM bots WHERE id = $1', [id])).rows[0];
    return row ? botFromRow(row) : null;
  }

  async getByName(name: string): Promise<Bot | null> {
    const row = (await this.query('SELECT * FROM bots WHERE name_lower = lower($1)', [name])).rows[0];
    return row ? botFromRow(row) : null;
  }

  async create(bot: Bot): Promise<Bot> {
    assertBot(bot);
    const created = botFromRow((await this.query(INSERT_SQL, rowValues(bot))).rows[0]!);
    publishBotChange(this.events, null, created);
    return created;
  }

  async update(id: string, fn: (bot: Bot) => Bot, expectedRevision?: number): Promise<Bot> {
    return this.perBot.run(id, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.get(id);
        if (!current) throw new CodexError('not_found', `no bot ${id}`);
        if (expectedRevision !== undefined && current.revision !== expectedRevision) {
          throw new CodexError('revision_conflict', `bot ${id} is at revision ${current.revision}, not ${expectedRevision}`, { details: { revision: current.revision } });
        }
        const updated: Bot = { ...fn(structuredClone(current)), id, revision: current.revision + 1, updated_at: isoTime(this.clock.now()) };
        assertBot(updated);
        const row = (await this.query(UPDATE_SQL, [...rowValues(updated), current.revision])).rows[0];
        if (row) {
          const stored = botFromRow(row);
          publishBotChange(this.events, current, stored);
          return stored;
        }
        // Another server wrote first. With an expected revision that is the caller's conflict; otherwise re-read.
        if (expectedRevision !== undefined || attempt >= MAX_ATTEMPTS) {
          throw new CodexError('revision_conflict', `bot ${id} was changed concurrently`, { details: { revision: current.revision } });
        }
      }
    });
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.query('DELETE FROM bots WHERE id = $1', [id]);
    if (result.rowCount === 0) return false;
    this.events.publish('bot.deleted', { bot_id: id });
    return true;
  }

  async stats(): Promise<RegistryStats> {
    const rows = (await this.query<{ status: BotStatus; n: string }>('SELECT status, count(*) AS n FROM bots GROUP BY status')).rows;
    return statsOf(rows.flatMap((r) => Array<BotStatus>(Number(r.n)).fill(r.status)));
  }

  async export(): Promise<RegistryFile> {
    const { bots } = await this.list();
    return { schema_version: 1, bots, metadata: { total_bots: bots.length, last_updated: isoTime(this.clock.now()) } };
  }

  async import(file: RegistryFile, options: { merge: boolean }): Promise<void> {
    assertRegistryFile(file);
    const before = new Map((await this.list()).bots.map((b) => [b.id, b]));
    const after = await this.transaction(async (client) => {
      if (!options.merge) await client.query('DELETE FROM bots WHERE NOT (id = ANY($1))', [file.bots.map((b) => b.id)]);
      for (const bot of file.bots) await client.query(UPSERT_SQL, rowValues(bot));
      return (await client.query('SELECT * FROM bots')).rows.map(botFromRow);
    });
    const present = new Set(after.map((b) => b.id));
    for (const bot of before.values()) if (!present.has(bot.id)) publishBotChange(this.events, bot, null);
    const imported = new Set(file.bots.map((b) => b.id));
    for (const bot of after) if (imported.has(bot.id)) publishBotChange(this.events, before.get(bot.id) ?? null, bot);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) this.clock.clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => {});
    await this.remoteQueue;
    await this.pool.end();
  }

  /** Runs one statement; database errors become typed `CodexError`s. */
  async query<R extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = [], client?: PoolClient): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new CodexError('closed', 'the registry is closed');
    try {
      return await (client ?? this.pool).query<R>(sql, params);
    } catch (cause) {
      throw translate(cause);
    }
  }

  private async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (cause) {
      throw translate(cause);
    }
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (cause) {
      await client.query('ROLLBACK').catch(() => {});
      throw translate(cause);
    } finally {
      client.release();
    }
  }

  private async listen(attempt = 0): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString, application_name: `${this.origin}-listen` });
    client.on('notification', (n) => {
      this.remoteQueue = this.remoteQueue.then(() => this.onNotification(n)).catch((error) => this.logger.warn('codex registry: cannot apply a remote change', { error: String(error) }));
    });
    client.on('error', () => {
      if (this.closed || this.listener !== client) return;
      this.listener = null;
      client.end().catch(() => {});
      const delay = Math.min(30_000, 1_000 * 2 ** attempt);
      this.logger.warn('codex registry: lost the notification connection; changes of other servers may be missed until it is back', { retryInMs: delay });
      this.reconnectTimer = this.clock.setTimeout(() => void this.listen(attempt + 1).catch(() => {}), delay);
    });
    await client.connect();
    await client.query('LISTEN codex_bots');
    await client.query('LISTEN codex_incidents');
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
  }

  private async onNotification(notification: Notification): Promise<void> {
    if (this.closed || !notification.payload) return;
    const payload = JSON.parse(notification.payload) as { op?: string; id: string; from?: BotStatus; to?: BotStatus; row?: QueryResultRow; origin: string };
    if (payload.origin === this.origin) return;
    if (notification.channel === 'codex_incidents') {
      const row = (await this.query('SELECT * FROM incidents WHERE incident_id = $1', [payload.id])).rows[0];
      if (row) this.events.publish('incident', { incident: incidentFromRow(row) }, { remote: true });
      return;
    }
    if (payload.op === 'DELETE') {
      this.events.publish('bot.deleted', { bot_id: payload.id }, { remote: true });
      return;
    }
    // the row as this change left it; read now only when it was too large to travel with the notification
    const bot = payload.row ? botFromRow(payload.row) : await this.get(payload.id);
    if (!bot) return;
    const after = payload.to ? { ...bot, status: payload.to } : bot;
    publishBotChange(this.events, payload.op === 'INSERT' ? null : { ...after, status: payload.from ?? after.status }, after, { remote: true });
  }
}

/**
 * Incidents in the `incidents` table of a {@link PostgresStore}'s database. Published locally on `record`, and by
 * every other server through `codex_incidents`.
 */
class PostgresIncidentStore implements IncidentStore {
  constructor(
    private readonly store: PostgresStore,
    private readonly clock?: Clock,
    private readonly random?: RandomSource,
  ) {}

  async record(input: NewIncident): Promise<Incident> {
    const incident = makeIncident(input, this.clock, this.random);
    await this.store.query('INSERT INTO incidents (incident_id, bot_id, bot_name, kind, message, created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      incident.incident_id,
      incident.bot_id,
      incident.bot_name,
      incident.kind,
      incident.message,
      incident.created_at,
      JSON.stringify(incident.data),
    ]);
    this.store.events.publish('incident', { incident });
    return incident;
  }

  async tail(query: IncidentQuery = {}): Promise<Incident[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.bot_id !== undefined) where.push(`bot_id = $${params.push(query.bot_id)}`);
    if (query.kind !== undefined) where.push(`kind = $${params.push(query.kind)}`);
    const sql = `SELECT * FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, incident_id DESC LIMIT $${params.push(incidentLimit(query))}`;
    return (await this.store.query(sql, params)).rows.map(incidentFromRow).reverse();
  }

  async close(): Promise<void> {}
}

function rowValues(bot: Bot): unknown[] {
  return COLUMNS.map((c) => {
    const value = bot[c];
    return JSON_COLUMNS.has(c) ? JSON.stringify(value) : value;
  });
}

function botFromRow(row: QueryResultRow): Bot {
  const bot: Record<string, unknown> = {};
  for (const c of COLUMNS) {
    const value: unknown = row[c];
    // a Date from a query, an ISO string from a notification's to_jsonb row
    if (TIME_COLUMNS.has(c)) bot[c] = value === null || value === undefined ? null : new Date(value as Date | string).toISOString();
    else if (c === 'process_started_at') bot[c] = value === null ? null : Number(value);
    else bot[c] = value;
  }
  return bot as Bot;
}

function incidentFromRow(row: QueryResultRow): Incident {
  return { ...(row as Incident), created_at: (row['created_at'] as Date).toISOString() };
}

/** SQLSTATE → CodexError: unique violations are conflicts, other integrity errors bad input, the rest unavailability. */
function translate(cause: unknown): CodexError {
  if (isCodexError(cause)) return cause;
  const e = cause as { code?: string; constraint?: string; detail?: string };
  if (e.code === '23505') {
    const what = e.constraint?.includes('name') ? 'name' : 'id';
    return new CodexError('conflict', `a bot with this ${what} already exists`, { cause, details: { constraint: e.constraint } });
  }
  if (e.code?.startsWith('23') || e.code?.startsWith('22')) return new CodexError('validation_error', `the database refused the record: ${e.detail ?? String(cause)}`, { cause });
  return new CodexError('storage_unavailable', `the PostgreSQL registry is unavailable: ${(cause as Error).message ?? String(cause)}`, { cause });
}
