// SPDX-License-Identifier: Apache-2.0
// A KeyProvider over local key files: a raw 32-byte AES-256 key or a raw 32-byte Ed25519 seed per file. The trust
// layer ships HSM, TPM and KMS providers behind the same interface; this one exists so logs work without them.
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EcpsError } from '@ecps/core';
import type { AeadOpenInput, AeadSealInput, AeadSealed, KeyAlgorithm, KeyInfo, KeyProvider } from '@ecps/core';
import { verifyEd25519 } from './chain';

/** One key: its algorithm and either the raw bytes or the path of a file holding exactly 32 raw bytes. */
export interface LocalKeySpec {
  algorithm: 'aes-256-gcm' | 'ed25519';
  key?: Uint8Array;
  file?: string;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

interface LoadedKey {
  algorithm: 'aes-256-gcm' | 'ed25519';
  secret: Uint8Array;
  privateKey?: KeyObject;
  publicKey?: Uint8Array;
}

/**
 * A {@link KeyProvider} backed by raw key bytes or key files (read lazily on first use).
 * Errors: `KEY_NOT_FOUND` (unknown id, unreadable file), `INVALID_ARGUMENT` (file not 32 bytes),
 * `MECHANISM_UNSUPPORTED` (wrong algorithm for the operation), `DECRYPTION_FAILED` (bad GCM tag).
 */
export class LocalKeyFileProvider implements KeyProvider {
  readonly kind = 'local-file';
  private readonly specs = new Map<string, LocalKeySpec>();
  private readonly loaded = new Map<string, LoadedKey>();

  constructor(keys: Record<string, LocalKeySpec> = {}) {
    for (const [id, spec] of Object.entries(keys)) this.specs.set(id, spec);
  }

  /** Adds (or replaces) a key. */
  addKey(id: string, spec: LocalKeySpec): void {
    this.specs.set(id, spec);
    this.loaded.delete(id);
  }

  private async load(id: string): Promise<LoadedKey> {
    const cached = this.loaded.get(id);
    if (cached) return cached;
    const spec = this.specs.get(id);
    if (!spec) throw new EcpsError('KEY_NOT_FOUND', `no key ${JSON.stringify(id)}`, { details: { keyId: id } });
    let secret = spec.key;
    if (secret === undefined && spec.file !== undefined) {
      try {
        secret = new Uint8Array(await readFile(spec.file));
      } catch (cause) {
        throw new EcpsError('KEY_NOT_FOUND', `cannot read key file ${spec.file}`, { cause, details: { keyId: id } });
      }
    }
    if (secret?.length !== 32) {
      throw new EcpsError('INVALID_ARGUMENT', `key ${JSON.stringify(id)} must be exactly 32 raw bytes`, { details: { keyId: id } });
    }
    const entry: LoadedKey = { algorithm: spec.algorithm, secret };
    if (spec.algorithm === 'ed25519') {
      entry.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, secret]), format: 'der', type: 'pkcs8' });
      const spki = createPublicKey(entry.privateKey).export({ format: 'der', type: 'spki' });
      entry.publicKey = new Uint8Array(spki.subarray(spki.length - 32));
    }
    this.loaded.set(id, entry);
    return entry;
  }

  private async loadFor(id: string, algorithm: KeyAlgorithm): Promise<LoadedKey> {
    const key = await this.load(id);
    if (key.algorithm !== algorithm) {
      throw new EcpsError('MECHANISM_UNSUPPORTED', `key ${JSON.stringify(id)} is ${key.algorithm}, not ${algorithm}`);
    }
    return key;
  }

  generateKey(id: string, algorithm: KeyAlgorithm): Promise<KeyInfo> {
    if (algorithm !== 'aes-256-gcm' && algorithm !== 'ed25519') {
      return Promise.reject(new EcpsError('MECHANISM_UNSUPPORTED', `local keys are aes-256-gcm or ed25519, not ${algorithm}`));
    }
    this.addKey(id, { algorithm, key: new Uint8Array(randomBytes(32)) });
    return this.getKey(id);
  }

  async getKey(id: string): Promise<KeyInfo> {
    const key = await this.load(id);
    return key.publicKey
      ? { id, algorithm: key.algorithm, publicKey: key.publicKey, extractable: true }
      : { id, algorithm: key.algorithm, extractable: true };
  }

  hasKey(id: string): Promise<boolean> {
    return Promise.resolve(this.specs.has(id));
  }

  async sign(id: string, data: Uint8Array): Promise<Uint8Array> {
    const key = await this.loadFor(id, 'ed25519');
    return new Uint8Array(cryptoSign(null, data, key.privateKey as KeyObject));
  }

  async verify(id: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const key = await this.loadFor(id, 'ed25519');
    return verifyEd25519(key.publicKey as Uint8Array, data, signature);
  }

  async encrypt(id: string, input: AeadSealInput): Promise<AeadSealed> {
    const key = await this.loadFor(id, 'aes-256-gcm');
    const nonce = input.nonce ?? new Uint8Array(randomBytes(12));
    if (nonce.length !== 12) throw new EcpsError('INVALID_ARGUMENT', 'AES-GCM nonce must be 12 bytes');
    const cipher = createCipheriv('aes-256-gcm', key.secret, nonce);
    if (input.aad) cipher.setAAD(input.aad);
    const body = Buffer.concat([cipher.update(input.plaintext), cipher.final(), cipher.getAuthTag()]);
    return { nonce, ciphertext: new Uint8Array(body) };
  }

  async decrypt(id: string, input: AeadOpenInput): Promise<Uint8Array> {
    const key = await this.loadFor(id, 'aes-256-gcm');
    if (input.nonce.length !== 12 || input.ciphertext.length < 16) {
      throw new EcpsError('DECRYPTION_FAILED', 'AES-GCM input too short');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.secret, input.nonce);
      if (input.aad) decipher.setAAD(input.aad);
      decipher.setAuthTag(input.ciphertext.subarray(input.ciphertext.length - 16));
      return new Uint8Array(Buffer.concat([decipher.update(input.ciphertext.subarray(0, input.ciphertext.length - 16)), decipher.final()]));
    } catch (cause) {
      throw new EcpsError('DECRYPTION_FAILED', `GCM tag did not verify under key ${JSON.stringify(id)}`, { cause });
    }
  }
}
