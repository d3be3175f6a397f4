// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { ManualClock, isEcpsError } from '@ecps/core';
import { JwtKeyRing, issueToken, verifyToken, type JwtAlgorithm, type JwtKey } from './jwt';
import type { Principal } from './rbac';

const operator: Principal = { id: 'alice', kind: 'user', name: 'Alice', roles: ['robot_operator', 'viewer'], attributes: { site: 'lab-1' } };

function keyFor(alg: JwtAlgorithm, kid: string): JwtKey {
  switch (alg) {
    case 'HS256':
      return { kid, alg, key: randomBytes(32) };
    case 'RS256':
      return { kid, alg, key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
    case 'ES256':
      return { kid, alg, key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
    case 'EdDSA':
      return { kid, alg, key: generateKeyPairSync('ed25519').privateKey };
  }
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; reason?: unknown }> {
  try {
    await p;
  } catch (e) {
    if (isEcpsError(e)) return { code: e.code, reason: e.details['reason'] };
    throw e;
  }
  throw new Error('expected a rejection');
}

/** The explicit opt-out of issuer and audience checks, for tests about something else. */
const anyParty = { allowAnyIssuer: true, allowAnyAudience: true } as const;

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('JWT', () => {
  const clock = new ManualClock(1_750_000_000_000);

  it.each<JwtAlgorithm>(['HS256', 'RS256', 'ES256', 'EdDSA'])('issues and verifies %s with kid in the header and roles as a string', async (alg) => {
    const ring = new JwtKeyRing(keyFor(alg, `k-${alg}`), clock);
    const token = await issueToken(operator, { ring, issuer: 'ecps', audience: 'fleet', clock });
    const [h, p] = token.split('.');
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toMatchObject({ alg, kid: `k-${alg}` });
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toMatchObject({ roles: 'robot_operator,viewer', sub: 'alice', kid: `k-${alg}` });
    const principal = await verifyToken(token, { ring, algorithms: [alg], issuer: 'ecps', audience: 'fleet', clock });
    expect(principal).toMatchObject({ id: 'alice', roles: ['robot_operator', 'viewer'], attributes: { site: 'lab-1' } });
    expect(principal.expiresAt).toBe(clock.now() + 3600_000);
  });

  it('accepts roles as a JSON array on read', async () => {
    const secret = randomBytes(32);
    const ring = new JwtKeyRing({ kid: 'h', alg: 'HS256', key: secret }, clock);
    const now = Math.floor(clock.now() / 1000);
    const head = b64url({ alg: 'HS256', kid: 'h' });
    const body = b64url({ sub: 'bob', exp: now + 60, iat: now, roles: ['robot_admin'] });
    const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
    expect((await verifyToken(`${head}.${body}.${sig}`, { ring, algorithms: ['HS256'], clock, ...anyParty })).roles).toEqual(['robot_admin']);
  });

  it('rejects alg none', async () => {
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    const now = Math.floor(clock.now() / 1000);
    const token = `${b64url({ alg: 'none', kid: 'e' })}.${b64url({ sub: 'mallory', exp: now + 60, roles: 'system_admin' })}.`;
    expect(await rejection(verifyToken(token, { ring, algorithms: ['EdDSA', 'none' as JwtAlgorithm], clock, ...anyParty }))).toEqual({ code: 'TOKEN_INVALID', reason: 'alg-not-allowed' });
  });

  it('rejects algorithm confusion: an HS256 token keyed with the RSA public key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ring = new JwtKeyRing({ kid: 'r', alg: 'RS256', key: rsa.privateKey }, clock);
    const now = Math.floor(clock.now() / 1000);
    const head = b64url({ alg: 'HS256', kid: 'r' });
    const body = b64url({ sub: 'mallory', exp: now + 60, roles: 'system_admin' });
    const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' });
    const sig = createHmac('sha256', pem).update(`${head}.${body}`).digest('base64url');
    expect(await rejection(verifyToken(`${head}.${body}.${sig}`, { ring, algorithms: ['RS256', 'HS256'], clock, ...anyParty }))).toEqual({
      code: 'TOKEN_INVALID',
      reason: 'alg-mismatch',
    });
  });

  it('rejects an algorithm outside the allow-list', async () => {
    const ring = new JwtKeyRing(keyFor('HS256', 'h'), clock);
    const token = await issueToken(operator, { ring, clock });
    expect(await rejection(verifyToken(token, { ring, clock, ...anyParty }))).toEqual({ code: 'TOKEN_INVALID', reason: 'alg-not-allowed' });
  });

  it('rejects expired tokens beyond the skew tolerance and accepts them within it', async () => {
    const c = new ManualClock(1_750_000_000_000);
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), c);
    const token = await issueToken(operator, { ring, clock: c, ttlSeconds: 60 });
    c.advance(60_000 + 20_000);
    await expect(verifyToken(token, { ring, clock: c, clockToleranceSeconds: 30, ...anyParty })).resolves.toMatchObject({ id: 'alice' });
    c.advance(20_000);
    expect(await rejection(verifyToken(token, { ring, clock: c, clockToleranceSeconds: 30, ...anyParty }))).toEqual({ code: 'TOKEN_EXPIRED', reason: undefined });
  });

  it('rejects not-yet-valid tokens', async () => {
    const future = new ManualClock(clock.now() + 600_000);
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    const key = ring.current();
    const { SignJWT } = await import('jose');
    const now = Math.floor(clock.now() / 1000);
    const token = await new SignJWT({ roles: 'x' }).setProtectedHeader({ alg: 'EdDSA', kid: 'e' }).setSubject('a').setNotBefore(now + 600).setExpirationTime(now + 1200).sign(key.key as never);
    expect(await rejection(verifyToken(token, { ring, clock, ...anyParty }))).toEqual({ code: 'TOKEN_INVALID', reason: 'not-yet-valid' });
    await expect(verifyToken(token, { ring, clock: future, ...anyParty })).resolves.toMatchObject({ id: 'a' });
  });

  it('rejects a wrong audience and a wrong issuer', async () => {
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    const token = await issueToken(operator, { ring, issuer: 'ecps', audience: 'fleet-a', clock });
    expect(await rejection(verifyToken(token, { ring, issuer: 'ecps', audience: 'fleet-b', clock }))).toEqual({ code: 'TOKEN_INVALID', reason: 'audience' });
    expect(await rejection(verifyToken(token, { ring, issuer: 'evil', audience: 'fleet-a', clock }))).toEqual({ code: 'TOKEN_INVALID', reason: 'issuer' });
    // a token without the claims the verifier requires
    const bare = await issueToken(operator, { ring, clock });
    expect(await rejection(verifyToken(bare, { ring, issuer: 'ecps', allowAnyAudience: true, clock }))).toEqual({ code: 'TOKEN_INVALID', reason: 'issuer' });
    expect(await rejection(verifyToken(bare, { ring, audience: 'fleet-a', allowAnyIssuer: true, clock }))).toEqual({ code: 'TOKEN_INVALID', reason: 'audience' });
  });

  it('requires an issuer and an audience to verify against unless the caller opts out explicitly', async () => {
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    const token = await issueToken(operator, { ring, issuer: 'ecps', audience: 'fleet', clock });
    expect(await rejection(verifyToken(token, { ring, clock }))).toEqual({ code: 'CONFIG_INVALID', reason: undefined });
    expect(await rejection(verifyToken(token, { ring, issuer: 'ecps', clock }))).toEqual({ code: 'CONFIG_INVALID', reason: undefined });
    expect(await rejection(verifyToken(token, { ring, audience: 'fleet', clock }))).toEqual({ code: 'CONFIG_INVALID', reason: undefined });
    await expect(verifyToken(token, { ring, clock, allowAnyIssuer: true, allowAnyAudience: true })).resolves.toMatchObject({ id: 'alice' });
  });

  it('never lets principal attributes override registered claims', async () => {
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    for (const claim of ['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'jti', 'roles', 'kid', 'name', 'kind', 'permissions']) {
      const forger: Principal = { ...operator, attributes: { [claim]: claim === 'exp' ? 9_999_999_999 : 'system_admin' } };
      expect(await rejection(issueToken(forger, { ring, clock }))).toEqual({ code: 'INVALID_ARGUMENT', reason: undefined });
    }
  });

  it('rejects a forged signature and an unknown kid', async () => {
    const ring = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    const other = new JwtKeyRing(keyFor('EdDSA', 'e'), clock);
    expect(await rejection(verifyToken(await issueToken(operator, { ring: other, clock }), { ring, clock, ...anyParty }))).toEqual({ code: 'TOKEN_INVALID', reason: 'signature' });
    const stranger = new JwtKeyRing(keyFor('EdDSA', 'z'), clock);
    expect(await rejection(verifyToken(await issueToken(operator, { ring: stranger, clock }), { ring, clock, ...anyParty }))).toEqual({ code: 'TOKEN_INVALID', reason: 'unknown-kid' });
  });

  it('keeps verifying the previous key during the rotation grace period, then stops', async () => {
    const c = new ManualClock(1_750_000_000_000);
    const ring = new JwtKeyRing(keyFor('HS256', 'day-1'), c);
    const old = await issueToken(operator, { ring, clock: c, ttlSeconds: 48 * 3600 });
    ring.rotate(keyFor('HS256', 'day-2'), 24 * 3600_000);
    const fresh = await issueToken(operator, { ring, clock: c });
    expect(fresh.split('.')[0]).toBe(b64url({ alg: 'HS256', kid: 'day-2', typ: 'JWT' }));
    const opts = { ring, algorithms: ['HS256'] as JwtAlgorithm[], clock: c, ...anyParty };
    await expect(verifyToken(old, opts)).resolves.toMatchObject({ id: 'alice' });
    c.advance(24 * 3600_000);
    expect(await rejection(verifyToken(old, opts))).toEqual({ code: 'TOKEN_INVALID', reason: 'unknown-kid' });
    expect(() => ring.rotate({ kid: 'weak', alg: 'HS256', key: new Uint8Array(8) })).toThrow();
    ring.revoke('day-2');
    expect(await rejection(verifyToken(fresh, opts))).toEqual({ code: 'TOKEN_INVALID', reason: 'unknown-kid' });
  });
});
