// SPDX-License-Identifier: Apache-2.0
// The contract every AuthStore keeps (users, API keys, refresh-token families, the access-token denylist).
// auth-store.test.ts runs it against the JSON file and postgres.test.ts against a real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isApiError, type ApiKeyRecord, type AuthStore, type RefreshTokenRecord, type Role, type UserRecord } from '../src/index';

export interface AuthStoreFixture {
  /** Opens the store on the fixture's backing storage (the same file or database every time), with `now` as its time. */
  open(now: () => number): Promise<AuthStore>;
  /** Removes the backing storage. */
  cleanup(): Promise<void>;
}

let created = Date.parse('2026-01-01T00:00:00Z');
function user(username: string, extra: Partial<UserRecord> = {}): UserRecord {
  created += 1000; // distinct creation times: stores list users in creation order
  return { id: randomUUID(), username, email: null, hashed_password: `$2b$04$${username}`, roles: ['viewer'], is_active: true, created_at: new Date(created).toISOString(), ...extra };
}

function apiKey(prefix: string, extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return { id: randomUUID(), key_prefix: prefix, key_hash: randomUUID().replaceAll('-', '').repeat(2), service_name: 'ci', roles: ['operator'] as Role[], is_active: true, expires_at: null, ...extra };
}

/** What `promise` rejected with (its value if it did not reject, which no error check accepts). */
const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.catch((error: unknown) => error);

export function describeAuthStoreContract(name: string, makeFixture: () => Promise<AuthStoreFixture>): void {
  describe(`AuthStore contract: ${name}`, () => {
    let fixture: AuthStoreFixture;
    let store: AuthStore;
    let nowMs: number;
    const now = () => nowMs;
    const token = (userId: string, family: string, ttlMs = 60_000): RefreshTokenRecord => ({
      jti: randomUUID(),
      family,
      user_id: userId,
      expires_at: nowMs + ttlMs,
      used_at: null,
      revoked_at: null,
    });
    beforeEach(async () => {
      nowMs = Date.parse('2026-06-01T00:00:00Z');
      fixture = await makeFixture();
      store = await fixture.open(now);
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup();
    });

    it('creates users, reads them by name and id, lists them in creation order, and refuses a duplicate username or e-mail', async () => {
      expect(await store.listUsers()).toEqual([]);
      const ada = await store.createUser(user('ada', { email: 'ada@example.org', roles: ['admin', 'operator'] }));
      const bob = await store.createUser(user('bob'));
      expect(await store.getUser('ada')).toEqual(ada);
      expect(await store.getUserById(bob.id)).toEqual(bob);
      expect(await store.listUsers()).toEqual([ada, bob]);
      expect(await store.getUser('nobody')).toBeNull();
      expect(await store.getUserById(randomUUID())).toBeNull();
      expect(await store.getUserById('not-a-uuid')).toBeNull();
      expect(isApiError(await rejection(store.createUser(user('ada'))), 'conflict')).toBe(true);
      expect(isApiError(await rejection(store.createUser(user('carol', { email: 'ada@example.org' }))), 'conflict')).toBe(true);
      expect((await store.listUsers()).map((u) => u.username)).toEqual(['ada', 'bob']);
    });

    it('deleting a user deletes its refresh tokens', async () => {
      const ada = await store.createUser(user('ada'));
      const t = token(ada.id, randomUUID());
      await store.addRefreshToken(t);
      expect(await store.deleteUser('ada')).toBe(true);
      expect(await store.deleteUser('ada')).toBe(false);
      expect(await store.getUserById(ada.id)).toBeNull();
      expect(await store.consumeRefreshToken(t.jti, now())).toEqual({ state: 'unknown' });
    });

    it('finds API keys by prefix only while active, refuses a duplicate key, and deletes by id', async () => {
      const live = await store.createApiKey(apiKey('c32_abcd', { expires_at: new Date(nowMs + 86_400_000).toISOString() }));
      await store.createApiKey(apiKey('c32_abcd', { is_active: false }));
      const other = await store.createApiKey(apiKey('c32_wxyz'));
      expect(await store.apiKeysByPrefix('c32_abcd')).toEqual([live]);
      expect(await store.apiKeysByPrefix('c32_none')).toEqual([]);
      expect(isApiError(await rejection(store.createApiKey({ ...apiKey('c32_abcd'), key_hash: live.key_hash })), 'conflict')).toBe(true);
      expect(await store.deleteApiKey(live.id)).toBe(true);
      expect(await store.deleteApiKey(live.id)).toBe(false);
      expect(await store.deleteApiKey('not-a-uuid')).toBe(false);
      expect(await store.apiKeysByPrefix('c32_abcd')).toEqual([]);
      expect(await store.apiKeysByPrefix('c32_wxyz')).toEqual([other]);
    });

    it('consumes a refresh token once: fresh, then reused; a revoked family is revoked; other families and unknown tokens are untouched', async () => {
      const ada = await store.createUser(user('ada'));
      const family = randomUUID();
      const first = token(ada.id, family);
      const second = token(ada.id, family);
      const elsewhere = token(ada.id, randomUUID());
      for (const t of [first, second, elsewhere]) await store.addRefreshToken(t);

      const fresh = await store.consumeRefreshToken(first.jti, now());
      expect(fresh).toEqual({ state: 'fresh', record: { ...first, used_at: nowMs } });
      expect(await store.consumeRefreshToken(first.jti, now())).toMatchObject({ state: 'reused', record: { family } });
      nowMs += 5000;
      await store.revokeFamily(family, now());
      expect(await store.consumeRefreshToken(second.jti, now())).toEqual({ state: 'revoked', record: { ...second, revoked_at: nowMs } });
      expect(await store.consumeRefreshToken(first.jti, now())).toMatchObject({ state: 'revoked' });
      expect(await store.consumeRefreshToken(elsewhere.jti, now())).toMatchObject({ state: 'fresh' });
      expect(await store.consumeRefreshToken(randomUUID(), now())).toEqual({ state: 'unknown' });
      expect(await store.consumeRefreshToken('not-a-uuid', now())).toEqual({ state: 'unknown' });
    });

    it('lets exactly one of 10 concurrent consumers of a token have it', async () => {
      const ada = await store.createUser(user('ada'));
      const t = token(ada.id, randomUUID());
      await store.addRefreshToken(t);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeRefreshToken(t.jti, now())));
      expect(results.filter((r) => r.state === 'fresh')).toHaveLength(1);
      expect(results.filter((r) => r.state === 'reused')).toHaveLength(9);
    });

    it('denies a revoked access token until it expires', async () => {
      const jti = randomUUID();
      await store.revokeAccessToken(jti, nowMs + 1000);
      await store.revokeAccessToken(jti, nowMs + 1000); // twice is harmless
      expect(await store.isAccessTokenRevoked(jti, now())).toBe(true);
      expect(await store.isAccessTokenRevoked(randomUUID(), now())).toBe(false);
      expect(await store.isAccessTokenRevoked('not-a-uuid', now())).toBe(false);
      expect(await store.isAccessTokenRevoked(jti, nowMs + 1000)).toBe(false);
    });

    it('drops expired refresh tokens as it writes, so storage stays bounded by the live ones', async () => {
      const ada = await store.createUser(user('ada'));
      const old = token(ada.id, randomUUID(), 1000);
      await store.addRefreshToken(old);
      nowMs += 1000;
      await store.addRefreshToken(token(ada.id, randomUUID()));
      expect(await store.consumeRefreshToken(old.jti, now())).toEqual({ state: 'unknown' });
    });

    it('is durable: a reopened store has the same users, keys, token states and denylist', async () => {
      const ada = await store.createUser(user('ada', { roles: ['user'] }));
      const key = await store.createApiKey(apiKey('c32_dura'));
      const used = token(ada.id, randomUUID());
      const revoked = token(ada.id, randomUUID());
      await store.addRefreshToken(used);
      await store.addRefreshToken(revoked);
      await store.consumeRefreshToken(used.jti, now());
      await store.revokeFamily(revoked.family, now());
      const jti = randomUUID();
      await store.revokeAccessToken(jti, nowMs + 60_000);
      await store.close();

      store = await fixture.open(now);
      expect(await store.listUsers()).toEqual([ada]);
      expect(await store.apiKeysByPrefix('c32_dura')).toEqual([key]);
      expect((await store.consumeRefreshToken(used.jti, now())).state).toBe('reused');
      expect((await store.consumeRefreshToken(revoked.jti, now())).state).toBe('revoked');
      expect(await store.isAccessTokenRevoked(jti, now())).toBe(true);
    });
  });
}
