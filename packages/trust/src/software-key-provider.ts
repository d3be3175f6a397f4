// SPDX-License-Identifier: Apache-2.0
// KeyProvider over node:crypto with keys in process memory (persisted encrypted by the keystore).
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { AeadOpenInput, AeadSealInput, AeadSealed, KeyAlgorithm, KeyInfo } from '@ecps/core';
import { TrustError } from './errors';
import type { KeyAgreementProvider } from './key-agreement';
import { encodePublicKey, p256FromPoint, parsePublicKey, publicKeyObject } from './key-encoding';
import { signWithKeyObject, signatureAlgorithmOf, verifyWithKeyObject } from './signatures';

interface SoftwareKey {
  readonly algorithm: KeyAlgorithm;
  readonly privateKey?: KeyObject;
  readonly secret?: Uint8Array;
  readonly publicKey?: Uint8Array;
  /** AES-GCM encryptions made under this key, by anyone, ever (restored from the keystore). */
  encryptions: number;
}

/** Portable form of one key (what the keystore encrypts). */
export interface ExportedKey {
  readonly id: string;
  readonly algorithm: KeyAlgorithm;
  /** PKCS#8 DER of the private key, or the 32-byte secret for aes-256-gcm. */
  readonly material: Uint8Array;
  /** AES-GCM encryptions already made under the key (aes-256-gcm only). Default 0. */
  readonly encryptions?: number;
}

export interface SoftwareKeyProviderOptions {
  /**
   * AES-GCM encryptions allowed per key. Nonces are random 96-bit values, so past 2^32 messages under one key the
   * chance of a repeated nonce is no longer negligible (NIST SP 800-38D). Default 2^32.
   */
  maxEncryptionsPerKey?: number;
}

/** The per-key AES-GCM invocation limit for random nonces (NIST SP 800-38D §8.3). */
export const MAX_GCM_ENCRYPTIONS_PER_KEY = 2 ** 32;

const ALGORITHMS: ReadonlySet<KeyAlgorithm> = new Set(['ed25519', 'ecdsa-p256', 'rsa-pss-2048', 'x25519', 'aes-256-gcm']);

/**
 * A {@link KeyAgreementProvider} whose keys live in memory. Keys are extractable (to the keystore only).
 * Errors: `KEY_NOT_FOUND`, `ALREADY_EXISTS`, `MECHANISM_UNSUPPORTED`, `DECRYPTION_FAILED`, `INVALID_ARGUMENT`.
 */
export class SoftwareKeyProvider implements KeyAgreementProvider {
  readonly kind = 'software';
  private readonly keys = new Map<string, SoftwareKey>();
  private readonly maxEncryptions: number;

  constructor(options: SoftwareKeyProviderOptions = {}) {
    this.maxEncryptions = options.maxEncryptionsPerKey ?? MAX_GCM_ENCRYPTIONS_PER_KEY;
  }

  async generateKey(id: string, algorithm: KeyAlgorithm): Promise<KeyInfo> {
    if (this.keys.has(id)) throw new TrustError('ALREADY_EXISTS', `key ${id} exists`);
    if (!ALGORITHMS.has(algorithm)) throw new TrustError('MECHANISM_UNSUPPORTED', `unknown algorithm ${String(algorithm)}`);
    if (algorithm === 'aes-256-gcm') {
      this.keys.set(id, { algorithm, secret: new Uint8Array(randomBytes(32)), encryptions: 0 });
    } else {
      const { privateKey } =
        algorithm === 'ecdsa-p256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : algorithm === 'rsa-pss-2048'
            ? generateKeyPairSync('rsa', { modulusLength: 2048 })
            : algorithm === 'ed25519'
              ? generateKeyPairSync('ed25519')
              : generateKeyPairSync('x25519');
      this.store(id, algorithm, privateKey);
    }
    return this.info(id);
  }

  /** Adds an existing key. @throws TrustError `ALREADY_EXISTS`, `INVALID_ARGUMENT` for bad material. */
  importKey(key: ExportedKey): KeyInfo {
    if (this.keys.has(key.id)) throw new TrustError('ALREADY_EXISTS', `key ${key.id} exists`);
    if (!ALGORITHMS.has(key.algorithm)) throw new TrustError('INVALID_ARGUMENT', `unknown algorithm ${String(key.algorithm)}`);
    if (key.algorithm === 'aes-256-gcm') {
      const encryptions = key.encryptions ?? 0;
      if (key.material.length !== 32) throw new TrustError('INVALID_ARGUMENT', 'aes-256-gcm keys are 32 bytes');
      if (!Number.isSafeInteger(encryptions) || encryptions < 0) throw new TrustError('INVALID_ARGUMENT', `bad encryption count for ${key.id}`);
      this.keys.set(key.id, { algorithm: key.algorithm, secret: new Uint8Array(key.material), encryptions });
    } else {
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey({ key: Buffer.from(key.material), format: 'der', type: 'pkcs8' });
      } catch (cause) {
        throw new TrustError('INVALID_ARGUMENT', `malformed private key ${key.id}`, { cause });
      }
      this.store(key.id, key.algorithm, privateKey);
    }
    return this.info(key.id);
  }

  /** Every key in portable form (for the encrypted keystore). */
  exportKeys(): ExportedKey[] {
    return [...this.keys].map(([id, k]) => ({
      id,
      algorithm: k.algorithm,
      material: k.secret ?? new Uint8Array(k.privateKey!.export({ format: 'der', type: 'pkcs8' })),
      ...(k.secret ? { encryptions: k.encryptions } : {}),
    }));
  }

  /** AES-GCM encryptions made so far under key `id` (0 for other algorithms). @throws TrustError `KEY_NOT_FOUND`. */
  encryptionsUsed(id: string): number {
    return this.get(id).encryptions;
  }

  deleteKey(id: string): boolean {
    return this.keys.delete(id);
  }

  listKeys(): string[] {
    return [...this.keys.keys()];
  }

  async getKey(id: string): Promise<KeyInfo> {
    return this.info(id);
  }

  async hasKey(id: string): Promise<boolean> {
    return this.keys.has(id);
  }

  async sign(id: string, data: Uint8Array): Promise<Uint8Array> {
    const key = this.get(id);
    if (!key.privateKey) throw new TrustError('MECHANISM_UNSUPPORTED', `${key.algorithm} key ${id} cannot sign`);
    return signWithKeyObject(signatureAlgorithmOf(key.algorithm), key.privateKey, data);
  }

  async verify(id: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const key = this.get(id);
    if (!key.publicKey) throw new TrustError('MECHANISM_UNSUPPORTED', `${key.algorithm} key ${id} cannot verify`);
    return verifyWithKeyObject(signatureAlgorithmOf(key.algorithm), publicKeyObject(key.algorithm, key.publicKey), data, signature);
  }

  /**
   * AES-256-GCM under key `id` with a fresh random nonce.
   * @throws TrustError `INVALID_ARGUMENT` for a caller-chosen nonce; `RESOURCE_EXHAUSTED` once the key has made
   *   `maxEncryptionsPerKey` encryptions (rotate it); `KEY_NOT_FOUND`; `MECHANISM_UNSUPPORTED`.
   */
  async encrypt(id: string, input: AeadSealInput): Promise<AeadSealed> {
    refuseCallerNonce(input);
    const key = this.get(id);
    const secret = this.secret(id);
    if (key.encryptions >= this.maxEncryptions) {
      throw new TrustError('RESOURCE_EXHAUSTED', `key ${id} has made ${key.encryptions} AES-GCM encryptions: rotate it`, {
        details: { keyId: id, limit: this.maxEncryptions },
      });
    }
    key.encryptions++;
    return aesGcmSeal(secret, input);
  }

  async decrypt(id: string, input: AeadOpenInput): Promise<Uint8Array> {
    return aesGcmOpen(this.secret(id), input);
  }

  async wrapKey(id: string, key: Uint8Array): Promise<Uint8Array> {
    const sealed = await this.encrypt(id, { plaintext: key });
    const out = new Uint8Array(12 + sealed.ciphertext.length);
    out.set(sealed.nonce);
    out.set(sealed.ciphertext, 12);
    return out;
  }

  async unwrapKey(id: string, wrapped: Uint8Array): Promise<Uint8Array> {
    if (wrapped.length < 28) throw new TrustError('DECRYPTION_FAILED', 'wrapped key too short');
    return this.decrypt(id, { nonce: wrapped.subarray(0, 12), ciphertext: wrapped.subarray(12) });
  }

  async deriveSharedSecret(id: string, peerPublicKey: Uint8Array): Promise<Uint8Array> {
    const key = this.get(id);
    if (key.algorithm !== 'x25519' && key.algorithm !== 'ecdsa-p256') {
      throw new TrustError('MECHANISM_UNSUPPORTED', `${key.algorithm} key ${id} cannot do key agreement`);
    }
    try {
      const peer = key.algorithm === 'x25519' ? parsePublicKey('x25519', peerPublicKey) : p256FromPoint(peerPublicKey);
      return new Uint8Array(diffieHellman({ privateKey: key.privateKey!, publicKey: peer }));
    } catch (cause) {
      throw new TrustError('DECRYPTION_FAILED', 'key agreement failed (invalid peer key)', { cause });
    }
  }

  private store(id: string, algorithm: KeyAlgorithm, privateKey: KeyObject): void {
    const expected = algorithm === 'ecdsa-p256' ? 'ec' : algorithm === 'rsa-pss-2048' ? 'rsa' : algorithm;
    if (privateKey.asymmetricKeyType !== expected) {
      throw new TrustError('INVALID_ARGUMENT', `key ${id} is ${String(privateKey.asymmetricKeyType)}, not ${algorithm}`);
    }
    this.keys.set(id, { algorithm, privateKey, publicKey: encodePublicKey(algorithm, createPublicKey(privateKey)), encryptions: 0 });
  }

  private get(id: string): SoftwareKey {
    const key = this.keys.get(id);
    if (!key) throw new TrustError('KEY_NOT_FOUND', `no key ${id}`);
    return key;
  }

  private secret(id: string): Uint8Array {
    const key = this.get(id);
    if (!key.secret) throw new TrustError('MECHANISM_UNSUPPORTED', `${key.algorithm} key ${id} cannot do AES-GCM`);
    return key.secret;
  }

  private info(id: string): KeyInfo {
    const key = this.get(id);
    return { id, algorithm: key.algorithm, extractable: true, ...(key.publicKey ? { publicKey: key.publicKey } : {}) };
  }
}

function refuseCallerNonce(input: AeadSealInput): void {
  // A chosen nonce repeated under one key reveals the XOR of two plaintexts and lets anyone forge tags.
  if (input.nonce !== undefined) throw new TrustError('INVALID_ARGUMENT', 'AES-GCM nonces are chosen by the provider, never by the caller');
}

/**
 * AES-256-GCM with a fresh random 96-bit nonce and the tag appended. Callers count their own invocations per key
 * (at most 2^32). @throws TrustError `INVALID_ARGUMENT` when a nonce is passed in.
 */
export function aesGcmSeal(key: Uint8Array, input: Omit<AeadSealInput, 'nonce'>): AeadSealed {
  refuseCallerNonce(input);
  return aesGcmSealWithNonce(key, input, new Uint8Array(randomBytes(12)));
}

/** @internal for one-time keys only (the sealed envelope derives a fresh key per message). */
export function aesGcmSealWithNonce(key: Uint8Array, input: Omit<AeadSealInput, 'nonce'>, nonce: Uint8Array): AeadSealed {
  if (nonce.length !== 12) throw new TrustError('INVALID_ARGUMENT', 'AES-GCM nonces are 12 bytes');
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (input.aad) cipher.setAAD(input.aad);
  return { nonce, ciphertext: new Uint8Array(Buffer.concat([cipher.update(input.plaintext), cipher.final(), cipher.getAuthTag()])) };
}

/** AES-256-GCM open with the tag appended. @throws TrustError `DECRYPTION_FAILED` when the tag does not verify. */
export function aesGcmOpen(key: Uint8Array, input: AeadOpenInput): Uint8Array {
  if (input.nonce.length !== 12 || input.ciphertext.length < 16) throw new TrustError('DECRYPTION_FAILED', 'malformed AES-GCM input');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, input.nonce);
    if (input.aad) decipher.setAAD(input.aad);
    decipher.setAuthTag(input.ciphertext.subarray(input.ciphertext.length - 16));
    return new Uint8Array(Buffer.concat([decipher.update(input.ciphertext.subarray(0, input.ciphertext.length - 16)), decipher.final()]));
  } catch (cause) {
    throw new TrustError('DECRYPTION_FAILED', 'AES-GCM authentication failed', { cause });
  }
}

/** A fresh in-memory software provider. */
export function softwareKeyProvider(options?: SoftwareKeyProviderOptions): SoftwareKeyProvider {
  return new SoftwareKeyProvider(options);
}
