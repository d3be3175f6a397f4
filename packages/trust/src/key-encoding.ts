// SPDX-License-Identifier: Apache-2.0
// Public keys as KeyProvider carries them (raw 32 bytes for ed25519/x25519, SPKI DER otherwise) <-> node:crypto.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { concatBytes, type KeyAlgorithm } from '@ecps/core';
import { TrustError } from './errors';

// DER SubjectPublicKeyInfo prefixes for 32-byte raw keys (RFC 8410).
const ED25519_SPKI_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00);
const X25519_SPKI_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00);

/** `concatBytes` taking the parts as arguments (how the signing labels here read best). */
export const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

// Parsing a public key costs about as much as an X25519 agreement; recipients and peers repeat, so keep a few.
const parsed = new Map<string, KeyObject>();
const PARSED_LIMIT = 256;

/**
 * node:crypto public key for a KeyProvider-encoded public key (memoised for the most recent keys).
 * @throws TrustError `INVALID_ARGUMENT` if malformed.
 */
export function publicKeyObject(algorithm: KeyAlgorithm, publicKey: Uint8Array): KeyObject {
  const cacheKey = `${algorithm}:${Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64')}`;
  const hit = parsed.get(cacheKey);
  if (hit) return hit;
  const key = parsePublicKey(algorithm, publicKey);
  if (parsed.size >= PARSED_LIMIT) parsed.delete(parsed.keys().next().value!);
  parsed.set(cacheKey, key);
  return key;
}

/** Like {@link publicKeyObject} without the memo (for one-time keys such as ephemeral ECDH keys). */
export function parsePublicKey(algorithm: KeyAlgorithm, publicKey: Uint8Array): KeyObject {
  try {
    if (algorithm === 'ed25519' || algorithm === 'x25519') {
      if (publicKey.length !== 32) throw new Error(`expected 32 bytes, got ${publicKey.length}`);
      const prefix = algorithm === 'ed25519' ? ED25519_SPKI_PREFIX : X25519_SPKI_PREFIX;
      return createPublicKey({ key: Buffer.from(concatBytes([prefix, publicKey])), format: 'der', type: 'spki' });
    }
    if (algorithm === 'aes-256-gcm') throw new Error('symmetric keys have no public key');
    return createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new TrustError('INVALID_ARGUMENT', `malformed ${algorithm} public key`, { cause });
  }
}

/** The KeyProvider encoding of a node:crypto public key. */
export function encodePublicKey(algorithm: KeyAlgorithm, key: KeyObject): Uint8Array {
  const der = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  return algorithm === 'ed25519' || algorithm === 'x25519' ? der.slice(der.length - 32) : der;
}

/** Uncompressed P-256 point (65 bytes) of an EC public key. */
export function p256Point(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return concatBytes([Uint8Array.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

/** P-256 public key from an uncompressed point. */
export function p256FromPoint(point: Uint8Array): KeyObject {
  if (point.length !== 65 || point[0] !== 4) throw new TrustError('INVALID_ARGUMENT', 'expected an uncompressed P-256 point');
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: Buffer.from(point.subarray(1, 33)).toString('base64url'), y: Buffer.from(point.subarray(33)).toString('base64url') },
    format: 'jwk',
  });
}
