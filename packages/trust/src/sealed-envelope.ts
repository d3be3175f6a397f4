// SPDX-License-Identifier: Apache-2.0
// SealedEnvelope (spec §10, ecps/ext/v1/secure.proto): ephemeral ECDH (X25519, or P-256 as our alternative),
// HKDF-SHA-256, AES-256-GCM over the plaintext with the spec's AAD, and an optional signature.
import { diffieHellman, generateKeyPairSync, hkdfSync } from 'node:crypto';
import { cryptoRandom, systemClock, type Clock, type KeyAlgorithm, type RandomSource } from '@ecps/core';
import type { SealedEnvelope } from '@ecps/proto/ext/v1';
import { TrustError } from './errors';
import type { KeyAgreementProvider } from './key-agreement';
import { concat, encodePublicKey, p256Point, publicKeyObject } from './key-encoding';
import { aesGcmOpen, aesGcmSealWithNonce } from './software-key-provider';

/** The spec's algorithm. */
export const SEALED_ALG_X25519 = 'X25519-HKDF-SHA256-A256GCM';
/** Ours, for P-256-only hardware: the same construction with P-256 ECDH and uncompressed points. */
export const SEALED_ALG_P256 = 'P256-HKDF-SHA256-A256GCM';
/** CloudEvents type of a sealed message. */
export const SEALED_EVENT_TYPE = 'ecps.ext.sealed';

const HKDF_INFO = new TextEncoder().encode('ecps/ext/v1 sealed');
const SIGNING_LABEL = new TextEncoder().encode('ecps-sealed-v1');
const utf8 = new TextEncoder();

/** A recipient's public key: x25519 (raw 32 bytes) or ecdsa-p256 (SPKI DER, used for ECDH). */
export interface SealRecipient {
  readonly keyId: string;
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: Uint8Array;
}

/** Signs the envelope; `keyId` becomes `signer_key_id`. */
export interface EnvelopeSigner {
  readonly keyId: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

function lengthPrefixed(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, true);
  out.set(bytes, 4);
  return out;
}

/** `u32le(len)‖alg ‖ u32le(len)‖sender_id ‖ u32le(len)‖recipient_key_id ‖ u32le(len)‖inner_type ‖ u64le(timestamp_ns)`. */
export function sealedAad(env: Pick<SealedEnvelope, 'alg' | 'senderId' | 'recipientKeyId' | 'innerType' | 'timestampNs'>): Uint8Array {
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, BigInt.asUintN(64, env.timestampNs), true);
  return concat(lengthPrefixed(env.alg), lengthPrefixed(env.senderId), lengthPrefixed(env.recipientKeyId), lengthPrefixed(env.innerType), ts);
}

/** `"ecps-sealed-v1" ‖ AAD ‖ ephemeral_public_key ‖ nonce ‖ ciphertext`: what `signature` covers. */
export function sealedSigningInput(env: SealedEnvelope): Uint8Array {
  return concat(SIGNING_LABEL, sealedAad(env), env.ephemeralPublicKey, env.nonce, env.ciphertext);
}

function recipientPoint(recipient: Pick<SealRecipient, 'algorithm' | 'publicKey'>): Uint8Array {
  return recipient.algorithm === 'x25519' ? recipient.publicKey : p256Point(publicKeyObject('ecdsa-p256', recipient.publicKey));
}

function algFor(algorithm: KeyAlgorithm): string {
  if (algorithm === 'x25519') return SEALED_ALG_X25519;
  if (algorithm === 'ecdsa-p256') return SEALED_ALG_P256;
  throw new TrustError('MECHANISM_UNSUPPORTED', `cannot seal to a ${algorithm} key`);
}

function deriveKey(shared: Uint8Array, epk: Uint8Array, rpk: Uint8Array): Uint8Array {
  if (shared.every((b) => b === 0)) throw new TrustError('DECRYPTION_FAILED', 'all-zero ECDH shared secret (low-order point)');
  return new Uint8Array(hkdfSync('sha256', shared, concat(epk, rpk), HKDF_INFO, 32));
}

export interface SealOptions {
  plaintext: Uint8Array;
  /** CloudEvents type of the plaintext. */
  innerType: string;
  senderId: string;
  recipient: SealRecipient;
  signer?: EnvelopeSigner;
  clock?: Clock;
  random?: RandomSource;
}

/** Seals `plaintext` for `recipient`. @throws TrustError `MECHANISM_UNSUPPORTED` for a non-ECDH recipient key. */
export async function sealEnvelope(options: SealOptions): Promise<SealedEnvelope> {
  const alg = algFor(options.recipient.algorithm);
  const rpk = recipientPoint(options.recipient);
  const recipientKey = alg === SEALED_ALG_X25519 ? publicKeyObject('x25519', rpk) : publicKeyObject('ecdsa-p256', options.recipient.publicKey);
  const ephemeral = alg === SEALED_ALG_X25519 ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const epk = alg === SEALED_ALG_X25519 ? encodePublicKey('x25519', ephemeral.publicKey) : p256Point(ephemeral.publicKey);
  const key = deriveKey(new Uint8Array(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientKey })), epk, rpk);
  const env: SealedEnvelope = {
    alg,
    senderId: options.senderId,
    recipientKeyId: options.recipient.keyId,
    ephemeralPublicKey: epk,
    nonce: new Uint8Array(0),
    ciphertext: new Uint8Array(0),
    innerType: options.innerType,
    timestampNs: (options.clock ?? systemClock).nowNs(),
    signature: new Uint8Array(0),
    signerKeyId: '',
  };
  // the key is derived for this message alone, so the injectable random source may pick the nonce
  const sealed = aesGcmSealWithNonce(key, { plaintext: options.plaintext, aad: sealedAad(env) }, (options.random ?? cryptoRandom).bytes(12));
  env.nonce = sealed.nonce;
  env.ciphertext = sealed.ciphertext;
  if (options.signer) {
    env.signerKeyId = options.signer.keyId;
    env.signature = await options.signer.sign(sealedSigningInput(env));
  }
  return env;
}

export interface OpenOptions {
  /** Holds the private key named by `recipient_key_id`. */
  provider: KeyAgreementProvider;
  /**
   * Checks `signature` (called only when the envelope is signed). Must throw `SIGNATURE_INVALID` (or another
   * trust error) when it does not verify.
   */
  verifySignature?: (env: SealedEnvelope, signingInput: Uint8Array) => Promise<void>;
  /** Reject unsigned envelopes with `UNAUTHENTICATED`. */
  requireSignature?: boolean;
}

/**
 * Opens an envelope; never returns partial plaintext.
 * @throws TrustError `UNSUPPORTED` for an unknown alg, `KEY_NOT_FOUND` when the envelope is addressed to a key we do
 *   not hold, `UNAUTHENTICATED` when a required signature is missing, `SIGNATURE_INVALID` (from `verifySignature`),
 *   `DECRYPTION_FAILED` for an all-zero shared secret, a bad point or a failing GCM tag.
 */
export async function openEnvelope(env: SealedEnvelope, options: OpenOptions): Promise<Uint8Array> {
  if (env.alg !== SEALED_ALG_X25519 && env.alg !== SEALED_ALG_P256) throw new TrustError('UNSUPPORTED', `unknown sealed alg ${env.alg}`);
  if (!(await options.provider.hasKey(env.recipientKeyId))) {
    throw new TrustError('KEY_NOT_FOUND', `sealed for key ${env.recipientKeyId}, which this node does not hold`);
  }
  const info = await options.provider.getKey(env.recipientKeyId);
  if (algFor(info.algorithm) !== env.alg) throw new TrustError('DECRYPTION_FAILED', `key ${info.id} does not match alg ${env.alg}`);
  if (env.signature.length > 0) {
    if (!options.verifySignature) throw new TrustError('UNAUTHENTICATED', 'signed envelope but no verifier configured');
    await options.verifySignature(env, sealedSigningInput(env));
  } else if (options.requireSignature) {
    throw new TrustError('UNAUTHENTICATED', `unsigned envelope from ${env.senderId}`);
  }
  const shared = await options.provider.deriveSharedSecret(env.recipientKeyId, env.ephemeralPublicKey);
  const key = deriveKey(shared, env.ephemeralPublicKey, recipientPoint({ algorithm: info.algorithm, publicKey: info.publicKey! }));
  return aesGcmOpen(key, { nonce: env.nonce, ciphertext: env.ciphertext, aad: sealedAad(env) });
}
