// SPDX-License-Identifier: Apache-2.0
// JWT issue and verification through `jose` (spec §10): kid in the header, roles as a comma-joined string,
// an explicit algorithm allow-list, keys bound to one algorithm (no algorithm confusion), rotation with a grace period.
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '@ecps/core';
import { TrustError } from './errors';
import type { Principal, PrincipalKind } from './rbac';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256' | 'EdDSA';

/** One key of a {@link JwtKeyRing}. `key` is a secret (HS256) or a private key; verification uses its public half. */
export interface JwtKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  /** HS256: the shared secret (at least 32 bytes). Others: the private key (public key for verify-only rings). */
  readonly key: KeyObject | Uint8Array;
}

interface RingEntry {
  readonly key: JwtKey;
  /** Verification of tokens under this key stops at this instant (ms); undefined = while current. */
  retiredAt?: number;
}

/**
 * The keys a service signs and verifies with. One key is current (signs); rotated-out keys keep verifying until
 * their grace period ends.
 */
export class JwtKeyRing {
  private readonly entries = new Map<string, RingEntry>();
  private currentKid: string | undefined;

  constructor(
    initial?: JwtKey,
    private readonly clock: Clock = systemClock,
  ) {
    if (initial) this.rotate(initial, 0);
  }

  /**
   * Makes `key` current; the previous current key still verifies for `graceMs` (the reference keeps secrets valid
   * for 48 h and rotates every 24 h, so 24 h of grace). @throws TrustError `INVALID_ARGUMENT` for a weak HS256 secret
   * or a reused kid.
   */
  rotate(key: JwtKey, graceMs = 24 * 3600_000): void {
    if (this.entries.has(key.kid)) throw new TrustError('INVALID_ARGUMENT', `kid ${key.kid} already used`);
    if (key.alg === 'HS256' && secretLength(key.key) < 32) {
      throw new TrustError('INVALID_ARGUMENT', 'HS256 secrets must be at least 32 bytes');
    }
    const previous = this.currentKid === undefined ? undefined : this.entries.get(this.currentKid);
    if (previous) previous.retiredAt = this.clock.now() + graceMs;
    this.entries.set(key.kid, { key });
    this.currentKid = key.kid;
  }

  /** Stops accepting a key at once (compromise). */
  revoke(kid: string): void {
    const entry = this.entries.get(kid);
    if (entry) entry.retiredAt = -Infinity;
  }

  /** @throws TrustError `KEY_NOT_FOUND` on an empty ring. */
  current(): JwtKey {
    const entry = this.currentKid === undefined ? undefined : this.entries.get(this.currentKid);
    if (!entry || entry.retiredAt !== undefined) throw new TrustError('KEY_NOT_FOUND', 'no current JWT key');
    return entry.key;
  }

  /** The key for `kid` if it may still verify now. */
  verificationKey(kid: string): JwtKey | undefined {
    const entry = this.entries.get(kid);
    if (!entry) return undefined;
    if (entry.retiredAt !== undefined && this.clock.now() >= entry.retiredAt) return undefined;
    return entry.key;
  }
}

function secretLength(key: KeyObject | Uint8Array): number {
  return key instanceof Uint8Array ? key.length : (key.symmetricKeySize ?? 0);
}

function signingKey(key: JwtKey): KeyObject {
  return key.key instanceof Uint8Array ? createSecretKey(key.key) : key.key;
}

function verificationKey(key: JwtKey): KeyObject {
  const k = signingKey(key);
  return k.type === 'private' ? createPublicKey(k) : k;
}

export interface IssueTokenOptions {
  ring: JwtKeyRing;
  issuer?: string;
  audience?: string | string[];
  /** Token lifetime; the reference default is 1 h. */
  ttlSeconds?: number;
  clock?: Clock;
  /** Also write `kid` into the payload (reference validators read it there). Default true. */
  mirrorKid?: boolean;
}

/**
 * Issues a token for a principal under the ring's current key. Principal attributes become top-level claims, but
 * never one of the registered or ECPS claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `name`, `kind`,
 * `roles`, `permissions`, `kid`).
 * @throws TrustError `KEY_NOT_FOUND` on an empty ring; `INVALID_ARGUMENT` for an attribute named like such a claim.
 */
export async function issueToken(principal: Principal, options: IssueTokenOptions): Promise<string> {
  for (const name of Object.keys(principal.attributes ?? {})) {
    if (RESERVED_CLAIMS.has(name)) {
      throw new TrustError('INVALID_ARGUMENT', `principal attribute ${JSON.stringify(name)} would override a registered claim`, { details: { attribute: name } });
    }
  }
  const key = options.ring.current();
  const nowS = Math.floor((options.clock ?? systemClock).now() / 1000);
  const claims: JWTPayload = {
    ...principal.attributes,
    name: principal.name ?? principal.id,
    kind: principal.kind,
    roles: principal.roles.join(','),
  };
  if (principal.permissions && Object.keys(principal.permissions).length > 0) claims['permissions'] = { ...principal.permissions };
  if (options.mirrorKid ?? true) claims['kid'] = key.kid;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setSubject(principal.id)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + (options.ttlSeconds ?? 3600));
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(signingKey(key));
}

export interface VerifyTokenOptions {
  ring: JwtKeyRing;
  /** Algorithms accepted at all; a key is further bound to its own algorithm. Default `['EdDSA']`. */
  algorithms?: readonly JwtAlgorithm[];
  /** The issuer(s) a token must name in `iss`. Required unless `allowAnyIssuer`. */
  issuer?: string | string[];
  /** The audience(s) one of which a token must name in `aud`. Required unless `allowAnyAudience`. */
  audience?: string | string[];
  /** Explicit opt-out: accept a token whatever its `iss` (or none). */
  allowAnyIssuer?: boolean;
  /** Explicit opt-out: accept a token whatever its `aud` (or none); a token for another service then works here too. */
  allowAnyAudience?: boolean;
  /** Tolerated clock difference for exp/nbf/iat. Default 30 s. */
  clockToleranceSeconds?: number;
  clock?: Clock;
}

const RESERVED_CLAIMS = new Set(['sub', 'name', 'exp', 'iat', 'nbf', 'iss', 'aud', 'jti', 'roles', 'kid', 'kind', 'permissions']);

/**
 * Verifies a token and returns its principal (`expiresAt` = `exp`).
 * @throws TrustError `CONFIG_INVALID` when `issuer` or `audience` is missing without its explicit opt-out;
 *   `TOKEN_EXPIRED` past `exp` (beyond the tolerance); `TOKEN_INVALID` for everything else (`details.reason`:
 *   `malformed`, `alg-not-allowed`, `unknown-kid`, `alg-mismatch`, `signature`, `not-yet-valid`, `audience`,
 *   `issuer`, `claims`).
 */
export async function verifyToken(token: string, options: VerifyTokenOptions): Promise<Principal> {
  // A token minted for another service or by another issuer under a shared key must not work here by default.
  if (options.issuer === undefined && !options.allowAnyIssuer) {
    throw new TrustError('CONFIG_INVALID', 'verifyToken needs the expected issuer (or allowAnyIssuer: true)');
  }
  if (options.audience === undefined && !options.allowAnyAudience) {
    throw new TrustError('CONFIG_INVALID', 'verifyToken needs the expected audience (or allowAnyAudience: true)');
  }
  const allowed = options.algorithms ?? ['EdDSA'];
  let header: { alg?: string; kid?: string };
  try {
    header = decodeProtectedHeader(token);
  } catch (cause) {
    throw invalid('malformed', 'token is not a JWS', cause);
  }
  // `none` is never in the allow-list type, but a caller could cast: reject it explicitly.
  if (!header.alg || header.alg === 'none' || !allowed.includes(header.alg as JwtAlgorithm)) {
    throw invalid('alg-not-allowed', `algorithm ${String(header.alg)} is not allowed`);
  }
  if (!header.kid) throw invalid('unknown-kid', 'token has no kid');
  const key = options.ring.verificationKey(header.kid);
  if (!key) throw invalid('unknown-kid', `no valid key ${header.kid}`);
  if (key.alg !== header.alg) throw invalid('alg-mismatch', `key ${key.kid} is ${key.alg}, token says ${header.alg}`);
  const clock = options.clock ?? systemClock;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, verificationKey(key), {
      algorithms: [key.alg],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockToleranceSeconds ?? 30,
      currentDate: new Date(clock.now()),
      requiredClaims: ['sub', 'exp'],
    }));
  } catch (cause) {
    throw mapJoseError(cause);
  }
  return principalFromClaims(payload);
}

function principalFromClaims(payload: JWTPayload): Principal {
  const rolesClaim = payload['roles'];
  const roles = Array.isArray(rolesClaim)
    ? rolesClaim.map(String)
    : typeof rolesClaim === 'string'
      ? rolesClaim.split(',').map((r) => r.trim()).filter(Boolean)
      : [];
  const attributes: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(payload)) {
    if (!RESERVED_CLAIMS.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) attributes[k] = v;
  }
  const permissions = payload['permissions'];
  const kind = payload['kind'];
  return {
    id: payload.sub!,
    kind: kind === 'user' || kind === 'service' || kind === 'device' || kind === 'robot' ? (kind as PrincipalKind) : 'user',
    name: typeof payload['name'] === 'string' ? payload['name'] : payload.sub!,
    roles,
    ...(permissions && typeof permissions === 'object' ? { permissions: permissions as Record<string, boolean> } : {}),
    attributes,
    expiresAt: payload.exp! * 1000,
  };
}

function invalid(reason: string, message: string, cause?: unknown): TrustError {
  return new TrustError('TOKEN_INVALID', message, { cause, details: { reason } });
}

function mapJoseError(error: unknown): TrustError {
  if (error instanceof joseErrors.JWTExpired) return new TrustError('TOKEN_EXPIRED', 'token expired', { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const reason = error.claim === 'nbf' || error.claim === 'iat' ? 'not-yet-valid' : error.claim === 'aud' ? 'audience' : error.claim === 'iss' ? 'issuer' : 'claims';
    return invalid(reason, `token claim ${error.claim} rejected: ${error.reason}`, error);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('signature', 'token signature does not verify', error);
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return invalid('alg-not-allowed', 'token algorithm not allowed', error);
  return invalid('malformed', error instanceof Error ? error.message : 'token rejected', error);
}
