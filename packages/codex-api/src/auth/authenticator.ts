// SPDX-License-Identifier: Apache-2.0
// Authentication: bcrypt passwords, short-lived HS256 access tokens, single-use refresh tokens in families (reuse
// revokes the family), logout revocation, API keys hashed and compared in constant time, and the login lockout.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '@ecps/core';
import { ApiError } from '../errors';
import { isRole, type Principal, type Role } from '../permissions';
import type { ApiKeyRecord, AuthStore, UserRecord } from './auth-store';

export const ISSUER = 'codex32';
export const AUDIENCE = 'codex32-api';
const USERNAME = /^[a-z0-9_.-]{3,64}$/;
const MIN_PASSWORD = 12;
const API_KEY = /^c32_[A-Za-z0-9_-]{43}$/;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  expires_in: number;
}

export interface AuthenticatorOptions {
  store: AuthStore;
  secretKey: string;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  bcryptCost: number;
  /** An in-memory admin service key (`ADMIN_API_KEY`). */
  adminApiKey?: string | null;
  loginLockout: { failures: number; windowSec: number };
  clock?: Clock;
}

/** The user fields the API returns: never the hash. */
export function publicUser(user: UserRecord) {
  return { id: user.id, username: user.username, email: user.email, roles: user.roles, is_active: user.is_active, created_at: user.created_at };
}

/**
 * A bcrypt hash of `password` (cost 12 by default), e.g. for `CODEX32_BOOTSTRAP_ADMIN=<user>:<hash>`. Throws `ApiError`
 * `validation_error` for a password shorter than 12 characters.
 */
export async function hashPassword(password: string, cost = 12): Promise<string> {
  if (password.length < MIN_PASSWORD) throw new ApiError('validation_error', `password must have at least ${MIN_PASSWORD} characters`);
  return bcrypt.hash(password, cost);
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * Issues and checks every credential of the API. All failures to authenticate are `ApiError` `unauthorized` with a
 * generic message (which part was wrong is never told); a locked-out login is `rate_limited`.
 */
export class Authenticator {
  private readonly key: Uint8Array;
  private readonly clock: Clock;
  private readonly adminKeyHash: Buffer | null;
  /** Failed logins per `ip|username`: timestamps within the window. Bounded: the oldest entries go first. */
  private readonly failures = new Map<string, number[]>();
  /** A real bcrypt hash to compare against for unknown users, so timing does not tell who exists. */
  private dummyHash: string | undefined;

  constructor(private readonly options: AuthenticatorOptions) {
    this.key = new TextEncoder().encode(options.secretKey);
    this.clock = options.clock ?? systemClock;
    this.adminKeyHash = options.adminApiKey ? sha256(options.adminApiKey) : null;
  }

  get store(): AuthStore {
    return this.options.store;
  }

  /** Creates a user with a bcrypt hash. Throws `validation_error` (username, password, roles) or `conflict`. */
  async createUser(input: { username: string; password: string; email?: string | null; roles: string[] }): Promise<UserRecord> {
    if (!USERNAME.test(input.username)) throw new ApiError('validation_error', 'username must match ^[a-z0-9_.-]{3,64}$', { errors: [{ path: '/username', message: 'invalid' }] });
    if (typeof input.password !== 'string' || input.password.length < MIN_PASSWORD) {
      throw new ApiError('validation_error', `password must have at least ${MIN_PASSWORD} characters`, { errors: [{ path: '/password', message: 'too short' }] });
    }
    const roles = this.checkRoles(input.roles);
    return this.options.store.createUser({
      id: randomUUID(),
      username: input.username,
      email: input.email ?? null,
      hashed_password: await bcrypt.hash(input.password, this.options.bcryptCost),
      roles,
      is_active: true,
      created_at: new Date(this.clock.now()).toISOString(),
    });
  }

  /**
   * Password login. Throws `rate_limited` (with `retryAfterSec`) after `loginLockout.failures` failures for this IP and
   * username within the window, else `unauthorized` ("invalid username or password") for any mismatch.
   */
  async login(username: string, password: string, ip: string): Promise<TokenPair> {
    const key = `${ip}|${username}`;
    const now = this.clock.now();
    const windowMs = this.options.loginLockout.windowSec * 1000;
    const recent = (this.failures.get(key) ?? []).filter((t) => now - t < windowMs);
    if (recent.length >= this.options.loginLockout.failures) {
      throw new ApiError('rate_limited', 'too many failed logins; try again later', { retryAfterSec: Math.ceil((recent[0]! + windowMs - now) / 1000) });
    }
    const user = await this.options.store.getUser(username);
    this.dummyHash ??= await bcrypt.hash(randomBytes(16).toString('hex'), this.options.bcryptCost);
    const ok = await bcrypt.compare(password, user?.hashed_password ?? this.dummyHash);
    if (!ok || !user || !user.is_active) {
      this.failures.delete(key);
      this.failures.set(key, [...recent, now]);
      if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
      throw new ApiError('unauthorized', 'invalid username or password');
    }
    this.failures.delete(key);
    return this.issuePair(user, randomUUID());
  }

  /**
   * Rotates a refresh token: the token must verify as `type: refresh`, be unused and unrevoked, and its user active.
   * A token presented a second time revokes its whole family. Throws `unauthorized`.
   */
  async refresh(token: string): Promise<TokenPair> {
    const claims = await this.verify(token, 'refresh');
    const consumed = await this.options.store.consumeRefreshToken(String(claims.jti), this.clock.now());
    if (consumed.state !== 'fresh') {
      if (consumed.state === 'reused') await this.options.store.revokeFamily(consumed.record.family, this.clock.now());
      throw new ApiError('unauthorized', consumed.state === 'reused' ? 'refresh token reused: its session is revoked' : 'invalid refresh token');
    }
    const user = await this.options.store.getUserById(consumed.record.user_id);
    if (!user || !user.is_active) throw new ApiError('unauthorized', 'invalid refresh token');
    return this.issuePair(user, consumed.record.family);
  }

  /**
   * Logout: denies the access token until it expires and revokes its session's refresh family (the access token
   * carries it as `fam`), and the family of `refreshToken` if given.
   */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    if (principal.jti && principal.exp) await this.options.store.revokeAccessToken(principal.jti, principal.exp * 1000);
    if (principal.family) await this.options.store.revokeFamily(principal.family, this.clock.now());
    if (refreshToken) {
      const claims = await this.verify(refreshToken, 'refresh').catch(() => null);
      if (claims && claims.sub === principal.sub && typeof claims['fam'] === 'string') await this.options.store.revokeFamily(claims['fam'], this.clock.now());
    }
  }

  /**
   * The principal of an access token: HS256 only, signature, `exp` (30 s leeway), `iss`, `aud`, `type: access`, not
   * revoked, user still active (roles as stored now). Throws `unauthorized`.
   */
  async authenticateBearer(token: string): Promise<Principal> {
    const claims = await this.verify(token, 'access');
    if (await this.options.store.isAccessTokenRevoked(String(claims.jti), this.clock.now())) throw new ApiError('unauthorized', 'token revoked');
    if (typeof claims.sub === 'string' && claims.sub.startsWith('key:')) {
      // Minted by /auth/token for a service: its roles are in the token (bounded by the key's).
      return { sub: claims.sub, username: String(claims['username'] ?? claims.sub), roles: this.rolesClaim(claims), kind: 'api_key', jti: String(claims.jti), exp: claims.exp! };
    }
    const user = claims.sub ? await this.options.store.getUserById(claims.sub) : null;
    if (!user || !user.is_active) throw new ApiError('unauthorized', 'invalid token');
    const family = typeof claims['fam'] === 'string' ? claims['fam'] : undefined;
    return { sub: user.id, username: user.username, roles: user.roles, kind: 'user', jti: String(claims.jti), exp: claims.exp!, ...(family ? { family } : {}) };
  }

  /** The principal of an API key, compared by SHA-256 in constant time. Throws `unauthorized`. */
  async authenticateApiKey(key: string): Promise<Principal> {
    const hash = sha256(key);
    if (this.adminKeyHash && timingSafeEqual(hash, this.adminKeyHash)) return { sub: 'key:admin', username: 'admin-api-key', roles: ['admin'], kind: 'api_key' };
    if (API_KEY.test(key)) {
      for (const record of await this.options.store.apiKeysByPrefix(key.slice(0, 8))) {
        const stored = Buffer.from(record.key_hash, 'hex');
        if (stored.length === hash.length && timingSafeEqual(stored, hash) && (!record.expires_at || Date.parse(record.expires_at) > this.clock.now())) {
          return { sub: `key:${record.id}`, username: record.service_name, roles: record.roles, kind: 'api_key' };
        }
      }
    }
    throw new ApiError('unauthorized', 'invalid API key');
  }

  /** A new API key (`c32_` + 43 base64url characters); only its hash and prefix are stored. */
  async createApiKey(input: { service_name: string; roles: string[]; expires_at?: string | null }): Promise<{ id: string; key: string; key_prefix: string; record: ApiKeyRecord }> {
    const roles = this.checkRoles(input.roles);
    const key = `c32_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id: randomUUID(),
      key_prefix: key.slice(0, 8),
      key_hash: sha256(key).toString('hex'),
      service_name: input.service_name,
      roles,
      is_active: true,
      expires_at: input.expires_at ?? null,
    };
    await this.options.store.createApiKey(record);
    return { id: record.id, key, key_prefix: record.key_prefix, record };
  }

  /** `/auth/token`: an access token for a service key, with roles no wider than the key's (else `forbidden`). */
  async tokenForApiKey(key: Principal, request: { user_id?: string; username?: string; roles?: string[] }): Promise<TokenPair> {
    const roles = request.roles ? this.checkRoles(request.roles) : key.roles;
    const beyond = roles.filter((r) => !key.roles.includes(r));
    if (beyond.length > 0) throw new ApiError('forbidden', `the key cannot grant roles ${beyond.join(', ')}`);
    const sub = request.user_id ? `key:${key.sub.slice(4)}:${request.user_id}` : key.sub;
    const access = await this.sign({ username: request.username ?? key.username, roles, type: 'access' }, sub, this.options.accessTokenTtlSec);
    return { access_token: access, refresh_token: '', token_type: 'bearer', expires_in: this.options.accessTokenTtlSec };
  }

  private checkRoles(roles: readonly string[]): Role[] {
    const bad = roles.filter((r) => !isRole(r));
    if (roles.length === 0 || bad.length > 0) throw new ApiError('validation_error', `roles must be a non-empty subset of admin, operator, viewer, user`, { errors: [{ path: '/roles', message: 'invalid' }] });
    return [...new Set(roles)] as Role[];
  }

  private rolesClaim(claims: JWTPayload): Role[] {
    const roles = claims['roles'];
    return Array.isArray(roles) ? roles.filter((r): r is Role => typeof r === 'string' && isRole(r)) : [];
  }

  private async issuePair(user: UserRecord, family: string): Promise<TokenPair> {
    const jti = randomUUID();
    const access = await this.sign({ username: user.username, roles: user.roles, type: 'access', fam: family }, user.id, this.options.accessTokenTtlSec);
    const refresh = await this.sign({ type: 'refresh', fam: family }, user.id, this.options.refreshTokenTtlSec, jti);
    await this.options.store.addRefreshToken({
      jti,
      family,
      user_id: user.id,
      expires_at: this.clock.now() + this.options.refreshTokenTtlSec * 1000,
      used_at: null,
      revoked_at: null,
    });
    return { access_token: access, refresh_token: refresh, token_type: 'bearer', expires_in: this.options.accessTokenTtlSec };
  }

  private sign(claims: Record<string, unknown>, sub: string, ttlSec: number, jti: string = randomUUID()): Promise<string> {
    const iat = Math.floor(this.clock.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlSec)
      .setJti(jti)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(this.key);
  }

  private async verify(token: string, type: 'access' | 'refresh'): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        clockTolerance: 30,
        currentDate: new Date(this.clock.now()),
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      });
      if (payload['type'] !== type) throw new ApiError('unauthorized', 'invalid token');
      return payload;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (error instanceof joseErrors.JOSEError) throw new ApiError('unauthorized', error instanceof joseErrors.JWTExpired ? 'token expired' : 'invalid token');
      throw error;
    }
  }
}
