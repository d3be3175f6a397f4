// SPDX-License-Identifier: Apache-2.0
// Sealed messages under KMS data keys: the SealedEnvelope of ecps/ext/v1 with our algorithm `KMS-DK-A256GCM`.
// The sender encrypts locally with a cached data key; any receiver allowed to unwrap with the KMS key opens it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { systemClock } from '@ecps/core';
import type { Clock } from '@ecps/core';
import type { SealedEnvelope } from '@ecps/proto/ext/v1';
import { sealedAad, sealedSigningInput } from '@ecps/trust';
import type { EnvelopeSigner } from '@ecps/trust';
import type { DataKeyCache } from './data-key-cache';
import { KmsError } from './errors';

/**
 * Our `alg` for a SealedEnvelope sealed with a KMS data key. Fields as for the spec's algorithm, except:
 * `recipient_key_id` = the KMS key that wrapped the data key, `ephemeral_public_key` = the wrapped data key (there
 * is no ephemeral key; the field carries what the receiver needs instead), `ciphertext` = AES-256-GCM under the data
 * key with the spec's AAD, tag appended. The optional signature covers the wrapped key like any other field.
 */
export const SEALED_ALG_KMS = 'KMS-DK-A256GCM';

export interface KmsSealOptions {
  plaintext: Uint8Array;
  /** CloudEvents type of the plaintext. */
  innerType: string;
  senderId: string;
  signer?: EnvelopeSigner;
  clock?: Clock;
}

/**
 * Seals one message with the cache's current data key (one use). Waits for the KMS only when the cache does.
 * @throws what {@link DataKeyCache.take} throws.
 */
export async function sealWithDataKey(keys: DataKeyCache, options: KmsSealOptions): Promise<SealedEnvelope> {
  const dataKey = await keys.take();
  const env: SealedEnvelope = {
    alg: SEALED_ALG_KMS,
    senderId: options.senderId,
    recipientKeyId: dataKey.wrapped.kek,
    ephemeralPublicKey: dataKey.wrapped.wrapped,
    nonce: new Uint8Array(randomBytes(12)),
    ciphertext: new Uint8Array(0),
    innerType: options.innerType,
    timestampNs: (options.clock ?? systemClock).nowNs(),
    signature: new Uint8Array(0),
    signerKeyId: '',
  };
  const cipher = createCipheriv('aes-256-gcm', dataKey.key, env.nonce);
  cipher.setAAD(sealedAad(env));
  env.ciphertext = new Uint8Array(Buffer.concat([cipher.update(options.plaintext), cipher.final(), cipher.getAuthTag()]));
  if (options.signer) {
    env.signerKeyId = options.signer.keyId;
    env.signature = await options.signer.sign(sealedSigningInput(env));
  }
  return env;
}

export interface KmsOpenOptions {
  /** Checks `signature` when present; must throw when it does not verify. */
  verifySignature?: (env: SealedEnvelope, signingInput: Uint8Array) => Promise<void>;
  /** Refuse unsigned envelopes (`UNAUTHENTICATED`). */
  requireSignature?: boolean;
}

/**
 * Opens a `KMS-DK-A256GCM` envelope: the data key is unwrapped through the cache (one KMS call per data key, not per
 * message). Freshness and replay (spec §10: 300 s, `(sender_id, nonce)`) are the caller's, as for any envelope.
 * Only envelopes wrapped under the cache's own KMS key are unwrapped.
 * @throws KmsError `UNSUPPORTED` for another alg, `UNAUTHENTICATED` for a missing required signature,
 *   `WRONG_RECIPIENT` for another KMS key,
 *   `DECRYPTION_FAILED` when anything sealed was changed; what unwrapping throws (`PERMISSION_DENIED`, ...).
 */
export async function openWithDataKey(keys: DataKeyCache, env: SealedEnvelope, options: KmsOpenOptions = {}): Promise<Uint8Array> {
  if (env.alg !== SEALED_ALG_KMS) throw new KmsError('UNSUPPORTED', `not a KMS data-key envelope: ${env.alg}`);
  if (env.signature.length > 0) {
    if (!options.verifySignature) throw new KmsError('UNAUTHENTICATED', 'signed envelope but no verifier configured');
    await options.verifySignature(env, sealedSigningInput(env));
  } else if (options.requireSignature) {
    throw new KmsError('UNAUTHENTICATED', `unsigned envelope from ${env.senderId}`);
  }
  // only our own KMS key: a hostile envelope must not make us call the KMS with a key id of its choosing
  if (env.recipientKeyId !== keys.kekId) throw new KmsError('WRONG_RECIPIENT', `sealed under KMS key ${env.recipientKeyId}, not ${keys.kekId}`);
  if (env.nonce.length !== 12 || env.ciphertext.length < 16) throw new KmsError('DECRYPTION_FAILED', 'malformed KMS envelope');
  const key = await keys.unwrap(env.recipientKeyId, env.ephemeralPublicKey);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, env.nonce);
    decipher.setAAD(sealedAad(env));
    decipher.setAuthTag(env.ciphertext.subarray(env.ciphertext.length - 16));
    return new Uint8Array(Buffer.concat([decipher.update(env.ciphertext.subarray(0, env.ciphertext.length - 16)), decipher.final()]));
  } catch {
    throw new KmsError('DECRYPTION_FAILED', 'KMS envelope did not authenticate');
  }
}
