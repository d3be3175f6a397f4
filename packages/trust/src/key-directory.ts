// SPDX-License-Identifier: Apache-2.0
// The public keys a node trusts, who owns them, and which are revoked or retired (rotation with a grace period).
import { systemClock, type Clock, type KeyAlgorithm } from '@ecps/core';
import type { KeyObject } from 'node:crypto';
import { TrustError } from './errors';
import { publicKeyObject } from './key-encoding';
import { signatureAlgorithmOf, verifyWithKeyObject, type SignatureAlgorithm } from './signatures';

/** A peer key: what it is, whose it is. `publicKey` uses the KeyProvider encoding. */
export interface TrustedKey {
  readonly keyId: string;
  readonly principalId: string;
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: Uint8Array;
}

interface Entry {
  readonly key: TrustedKey;
  readonly object: KeyObject;
  /** Stops verifying at this instant (ms) after a rotation. */
  retiresAt?: number;
}

export class KeyDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly revoked = new Set<string>();
  private readonly clock: Clock;
  /** Signature algorithms accepted; RS256 (PKCS#1 v1.5) only when listed explicitly. */
  readonly algorithms: ReadonlySet<SignatureAlgorithm>;

  constructor(options: { keys?: readonly TrustedKey[]; clock?: Clock; algorithms?: readonly SignatureAlgorithm[] } = {}) {
    this.clock = options.clock ?? systemClock;
    this.algorithms = new Set(options.algorithms ?? ['Ed25519', 'ES256', 'PS256']);
    for (const k of options.keys ?? []) this.add(k);
  }

  /** Adds or replaces a key. @throws TrustError `INVALID_ARGUMENT` for a malformed public key. */
  add(key: TrustedKey): void {
    this.entries.set(key.keyId, { key, object: publicKeyObject(key.algorithm, key.publicKey) });
  }

  /** Adds `key` for its principal; the principal's other keys keep verifying for `graceMs`, then retire. */
  rotate(key: TrustedKey, graceMs = 3600_000): void {
    const retiresAt = this.clock.now() + graceMs;
    for (const entry of this.entries.values()) {
      if (entry.key.principalId === key.principalId && entry.retiresAt === undefined) entry.retiresAt = retiresAt;
    }
    this.add(key);
  }

  revoke(keyId: string): void {
    this.revoked.add(keyId);
  }

  isRevoked(keyId: string): boolean {
    return this.revoked.has(keyId);
  }

  get(keyId: string): TrustedKey | undefined {
    return this.entries.get(keyId)?.key;
  }

  /** Every known key. */
  list(): TrustedKey[] {
    return [...this.entries.values()].map((e) => e.key);
  }

  /**
   * Verifies `signature` over `data` under `keyId` and returns the key.
   * @throws TrustError `KEY_NOT_FOUND` (unknown key), `KEY_REVOKED` (revoked or retired), `SIGNATURE_INVALID`
   *   (bad signature, or an algorithm that is not allowed or does not match the key).
   */
  verify(keyId: string, data: Uint8Array, signature: Uint8Array, alg?: string): TrustedKey {
    const entry = this.entries.get(keyId);
    if (!entry) throw new TrustError('KEY_NOT_FOUND', `unknown signing key ${keyId}`, { details: { keyId } });
    if (this.revoked.has(keyId)) throw new TrustError('KEY_REVOKED', `key ${keyId} is revoked`, { details: { keyId } });
    if (entry.retiresAt !== undefined && this.clock.now() >= entry.retiresAt) {
      throw new TrustError('KEY_REVOKED', `key ${keyId} was rotated out`, { details: { keyId } });
    }
    const expected = signatureAlgorithmOf(entry.key.algorithm);
    const used = (alg || expected) as SignatureAlgorithm;
    const compatible = used === expected || (expected === 'PS256' && used === 'RS256');
    if (!compatible || !this.algorithms.has(used) || !verifyWithKeyObject(used, entry.object, data, signature)) {
      throw new TrustError('SIGNATURE_INVALID', `signature by ${keyId} does not verify`, { details: { keyId, alg: used } });
    }
    return entry.key;
  }
}
