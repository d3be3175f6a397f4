// SPDX-License-Identifier: Apache-2.0
// Where users, API keys, refresh tokens and revoked access tokens live: a JSON file written atomically (the
// embedded default) or the PostgreSQL tables of the registry schema.
import { readFile } from 'node:fs/promises';
import { Mutex } from 'async-mutex';
import { atomicWriteFile, CodexError } from '@ecps/codex-registry';
import { ApiError } from '../errors';
import type { Role } from '../permissions';

export interface UserRecord {
  id: string;
  username: string;
  email: string | null;
  hashed_password: string;
  roles: Role[];
  is_active: boolean;
  created_at: string;
}

export interface ApiKeyRecord {
  id: string;
  key_prefix: string;
  /** SHA-256 of the whole key, hex. */
  key_hash: string;
  service_name: string;
  roles: Role[];
  is_active: boolean;
  expires_at: string | null;
}

export interface RefreshTokenRecord {
  jti: string;
  family: string;
  user_id: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

/** What presenting a refresh token found: `fresh` (now marked used), `reused` (already used), `revoked`, `unknown`. */
export type RefreshConsumption = { state: 'fresh' | 'reused' | 'revoked'; record: RefreshTokenRecord } | { state: 'unknown' };

/**
 * Durable credentials. Every mutation is durable before it resolves. Errors: `ApiError` `conflict` (duplicate
 * username, e-mail or key), `CodexError` `storage_unavailable`. Every implementation passes the same contract suite
 * (`test/auth-store-contract.ts`). Ids, jtis and families are UUIDs; a malformed one is simply not found.
 */
export interface AuthStore {
  listUsers(): Promise<UserRecord[]>;
  getUser(username: string): Promise<UserRecord | null>;
  getUserById(id: string): Promise<UserRecord | null>;
  createUser(user: UserRecord): Promise<UserRecord>;
  deleteUser(username: string): Promise<boolean>;
  createApiKey(key: ApiKeyRecord): Promise<ApiKeyRecord>;
  deleteApiKey(id: string): Promise<boolean>;
  /** Active keys whose 8-character prefix is `prefix` (the caller compares hashes in constant time). */
  apiKeysByPrefix(prefix: string): Promise<ApiKeyRecord[]>;
  addRefreshToken(token: RefreshTokenRecord): Promise<void>;
  /** Marks a fresh token used, atomically, and says what it found. */
  consumeRefreshToken(jti: string, nowMs: number): Promise<RefreshConsumption>;
  /** Revokes every token of a family (reuse detected, or logout). */
  revokeFamily(family: string, nowMs: number): Promise<void>;
  /** Denies an access token until `expMs`. */
  revokeAccessToken(jti: string, expMs: number): Promise<void>;
  isAccessTokenRevoked(jti: string, nowMs: number): Promise<boolean>;
  close(): Promise<void>;
}

interface AuthFile {
  schema_version: 1;
  users: UserRecord[];
  api_keys: ApiKeyRecord[];
  refresh_tokens: RefreshTokenRecord[];
  revoked_access_tokens: { jti: string; expires_at: number }[];
}

/**
 * The JSON-file {@link AuthStore} (`codex32_auth.json`, mode 0600): every mutation rewrites the file with the
 * registry's atomic procedure under one mutex. Expired refresh tokens and denylist entries are dropped on each
 * write, so the file stays bounded by the tokens still alive.
 */
export class JsonAuthStore implements AuthStore {
  private readonly mutex = new Mutex();

  private constructor(
    private readonly file: string,
    private state: AuthFile,
    private readonly now: () => number,
  ) {}

  /** Opens (or starts) the file. Throws `CodexError` `registry_corrupt` when it exists but is not a valid auth file. */
  static async open(file: string, now: () => number = Date.now): Promise<JsonAuthStore> {
    let state: AuthFile = { schema_version: 1, users: [], api_keys: [], refresh_tokens: [], revoked_access_tokens: [] };
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as AuthFile;
      if (parsed?.schema_version !== 1 || !Array.isArray(parsed.users) || !Array.isArray(parsed.api_keys) || !Array.isArray(parsed.refresh_tokens) || !Array.isArray(parsed.revoked_access_tokens)) {
        throw new Error('not an auth file');
      }
      state = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CodexError('registry_corrupt', `auth file ${file} is unreadable or corrupt`, { cause: error });
    }
    return new JsonAuthStore(file, state, now);
  }

  async listUsers() {
    return structuredClone(this.state.users);
  }
  async getUser(username: string) {
    return structuredClone(this.state.users.find((u) => u.username === username) ?? null);
  }
  async getUserById(id: string) {
    return structuredClone(this.state.users.find((u) => u.id === id) ?? null);
  }
  createUser(user: UserRecord) {
    return this.mutate((s) => {
      if (s.users.some((u) => u.username === user.username || u.id === user.id)) throw new ApiError('conflict', `user ${user.username} already exists`);
      if (user.email && s.users.some((u) => u.email === user.email)) throw new ApiError('conflict', 'e-mail already in use');
      s.users.push(user);
      return structuredClone(user);
    });
  }
  deleteUser(username: string) {
    return this.mutate((s) => {
      const user = s.users.find((u) => u.username === username);
      if (!user) return false;
      s.users = s.users.filter((u) => u !== user);
      s.refresh_tokens = s.refresh_tokens.filter((t) => t.user_id !== user.id);
      return true;
    });
  }
  createApiKey(key: ApiKeyRecord) {
    return this.mutate((s) => {
      if (s.api_keys.some((k) => k.id === key.id || k.key_hash === key.key_hash)) throw new ApiError('conflict', 'API key already exists');
      s.api_keys.push(key);
      return structuredClone(key);
    });
  }
  deleteApiKey(id: string) {
    return this.mutate((s) => {
      const before = s.api_keys.length;
      s.api_keys = s.api_keys.filter((k) => k.id !== id);
      return s.api_keys.length !== before;
    });
  }
  async apiKeysByPrefix(prefix: string) {
    return structuredClone(this.state.api_keys.filter((k) => k.is_active && k.key_prefix === prefix));
  }
  addRefreshToken(token: RefreshTokenRecord) {
    return this.mutate((s) => {
      s.refresh_tokens.push(token);
    });
  }
  consumeRefreshToken(jti: string, nowMs: number) {
    return this.mutate((s): RefreshConsumption => {
      const token = s.refresh_tokens.find((t) => t.jti === jti);
      if (!token) return { state: 'unknown' };
      if (token.revoked_at !== null) return { state: 'revoked', record: { ...token } };
      if (token.used_at !== null) return { state: 'reused', record: { ...token } };
      token.used_at = nowMs;
      return { state: 'fresh', record: { ...token } };
    });
  }
  revokeFamily(family: string, nowMs: number) {
    return this.mutate((s) => {
      for (const token of s.refresh_tokens) if (token.family === family && token.revoked_at === null) token.revoked_at = nowMs;
    });
  }
  revokeAccessToken(jti: string, expMs: number) {
    return this.mutate((s) => {
      s.revoked_access_tokens.push({ jti, expires_at: expMs });
    });
  }
  async isAccessTokenRevoked(jti: string, nowMs: number) {
    return this.state.revoked_access_tokens.some((t) => t.jti === jti && t.expires_at > nowMs);
  }
  async close() {
    await this.mutex.waitForUnlock();
  }

  /** Runs `fn` on a copy, writes it durably, then switches to it; on any failure memory is unchanged. */
  private mutate<T>(fn: (state: AuthFile) => T): Promise<T> {
    return this.mutex.runExclusive(async () => {
      const next = structuredClone(this.state);
      const result = fn(next);
      const now = this.now();
      next.refresh_tokens = next.refresh_tokens.filter((t) => t.expires_at > now);
      next.revoked_access_tokens = next.revoked_access_tokens.filter((t) => t.expires_at > now);
      await atomicWriteFile(this.file, Buffer.from(JSON.stringify(next, null, 4)));
      this.state = next;
      return result;
    });
  }
}
