// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL AuthStore, on the users, api_keys, refresh_tokens and revoked_access_tokens tables of the registry's
// versioned schema. Refresh consumption is one conditional UPDATE, so two servers can never both rotate a token.
import pg from 'pg';
import { CodexError, migratePostgres } from '@ecps/codex-registry';
import { ApiError } from '../errors';
import type { ApiKeyRecord, AuthStore, RefreshConsumption, RefreshTokenRecord, UserRecord } from './auth-store';

/** A `users` row: the record with `created_at` as the driver returns a timestamptz. */
type UserRow = Omit<UserRecord, 'created_at'> & { created_at: Date };

const user = (r: UserRow): UserRecord => ({ ...r, created_at: r.created_at.toISOString() });

export interface PostgresAuthStoreOptions {
  connectionString: string;
  /** Connections in the pool (default 5). */
  poolSize?: number;
  /** Wall time in ms, for dropping expired refresh tokens and denylist entries (default `Date.now`). */
  now?: () => number;
}

/**
 * Credentials in PostgreSQL, on the registry's schema (so one database holds bots and credentials). Errors:
 * `ApiError` `conflict` (duplicate username, e-mail or key), `CodexError` `storage_unavailable`.
 */
export class PostgresAuthStore implements AuthStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => number,
  ) {}

  /**
   * Connects and applies the schema's migrations (the registry's; a no-op when the registry already has). Throws
   * `CodexError` `storage_unavailable` when the database cannot be reached or migrated.
   */
  static async open(options: PostgresAuthStoreOptions): Promise<PostgresAuthStore> {
    const pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 5, application_name: 'codex32-auth' });
    pool.on('error', () => {}); // an idle client's connection dropped; the next query reports it
    try {
      const client = await pool.connect();
      try {
        await migratePostgres(client);
      } finally {
        client.release();
      }
    } catch (cause) {
      await pool.end();
      throw new CodexError('storage_unavailable', 'cannot open the PostgreSQL credential store', { cause });
    }
    return new PostgresAuthStore(pool, options.now ?? Date.now);
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new ApiError('conflict', 'username, e-mail or key already exists', { cause: error });
      throw new CodexError('storage_unavailable', 'auth store unavailable', { cause: error });
    }
  }

  async listUsers() {
    return (await this.query<UserRow>('SELECT * FROM users ORDER BY created_at, username')).rows.map(user);
  }
  async getUser(username: string) {
    const row = (await this.query<UserRow>('SELECT * FROM users WHERE username = $1', [username])).rows[0];
    return row ? user(row) : null;
  }
  async getUserById(id: string) {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    const row = (await this.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])).rows[0];
    return row ? user(row) : null;
  }
  async createUser(u: UserRecord) {
    await this.query('INSERT INTO users (id, username, email, hashed_password, roles, is_active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      u.id, u.username, u.email, u.hashed_password, u.roles, u.is_active, u.created_at,
    ]);
    return u;
  }
  async deleteUser(username: string) {
    return ((await this.query('DELETE FROM users WHERE username = $1', [username])).rowCount ?? 0) > 0;
  }
  async createApiKey(k: ApiKeyRecord) {
    await this.query('INSERT INTO api_keys (id, key_prefix, key_hash, service_name, roles, is_active, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      k.id, k.key_prefix, Buffer.from(k.key_hash, 'hex'), k.service_name, k.roles, k.is_active, k.expires_at,
    ]);
    return k;
  }
  async deleteApiKey(id: string) {
    if (!/^[0-9a-f-]{36}$/.test(id)) return false;
    return ((await this.query('DELETE FROM api_keys WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }
  async apiKeysByPrefix(prefix: string) {
    const rows = await this.query<Omit<ApiKeyRecord, 'key_hash' | 'expires_at'> & { key_hash: Buffer; expires_at: Date | null }>(
      'SELECT id, key_prefix, key_hash, service_name, roles, is_active, expires_at FROM api_keys WHERE key_prefix = $1 AND is_active',
      [prefix],
    );
    return rows.rows.map((r) => ({ ...r, key_hash: r.key_hash.toString('hex'), expires_at: r.expires_at?.toISOString() ?? null }));
  }
  async addRefreshToken(t: RefreshTokenRecord) {
    await this.query('DELETE FROM refresh_tokens WHERE expires_at <= $1', [new Date(this.now())]);
    await this.query('INSERT INTO refresh_tokens (jti, family, user_id, expires_at, used_at, revoked_at) VALUES ($1, $2, $3, $4, NULL, NULL)', [
      t.jti, t.family, t.user_id, new Date(t.expires_at),
    ]);
  }
  async consumeRefreshToken(jti: string, nowMs: number): Promise<RefreshConsumption> {
    if (!/^[0-9a-f-]{36}$/.test(jti)) return { state: 'unknown' };
    type Row = { jti: string; family: string; user_id: string; expires_at: Date; used_at: Date | null; revoked_at: Date | null };
    const toRecord = (r: Row): RefreshTokenRecord => ({ ...r, expires_at: r.expires_at.getTime(), used_at: r.used_at?.getTime() ?? null, revoked_at: r.revoked_at?.getTime() ?? null });
    const fresh = await this.query<Row>('UPDATE refresh_tokens SET used_at = $2 WHERE jti = $1 AND used_at IS NULL AND revoked_at IS NULL RETURNING *', [jti, new Date(nowMs)]);
    if (fresh.rows[0]) return { state: 'fresh', record: toRecord(fresh.rows[0]) };
    const row = (await this.query<Row>('SELECT * FROM refresh_tokens WHERE jti = $1', [jti])).rows[0];
    if (!row) return { state: 'unknown' };
    return { state: row.revoked_at ? 'revoked' : 'reused', record: toRecord(row) };
  }
  async revokeFamily(family: string, nowMs: number) {
    await this.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL', [family, new Date(nowMs)]);
  }
  async revokeAccessToken(jti: string, expMs: number) {
    await this.query('DELETE FROM revoked_access_tokens WHERE expires_at <= $1', [new Date(this.now())]);
    await this.query('INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING', [jti, new Date(expMs)]);
  }
  async isAccessTokenRevoked(jti: string, nowMs: number) {
    if (!/^[0-9a-f-]{36}$/.test(jti)) return false;
    return (await this.query('SELECT 1 FROM revoked_access_tokens WHERE jti = $1 AND expires_at > $2', [jti, new Date(nowMs)])).rows.length > 0;
  }
  async close() {
    await this.pool.end();
  }
}
