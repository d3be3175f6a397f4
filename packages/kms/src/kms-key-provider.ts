// SPDX-License-Identifier: Apache-2.0
// The KeyProvider every cloud package returns: the contract of @ecps/core over a KmsBackend per endpoint, with
// failover and retries (EndpointPool), verification with the exported public key (no round trip), AES-GCM
// encryption in the service, and key wrapping for envelope encryption.
import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import type { AeadOpenInput, AeadSealInput, AeadSealed, KeyAlgorithm, KeyInfo, KeyProvider } from '@ecps/core';
import type { GeneratedDataKey, KmsBackend, KmsKeyState } from './backend';
import { EndpointPool } from './endpoint-pool';
import type { EndpointPoolOptions } from './endpoint-pool';
import { KmsError } from './errors';

/** Domain labels bound into the service's AAD, so a wrapped key can never be opened as a message or vice versa. */
const AEAD_LABEL = new TextEncoder().encode('ecps-kms-aead-v1');
const WRAP_LABEL = new TextEncoder().encode('ecps-kms-wrap-v1');
/** Public keys kept for local verification. */
const MAX_PUBLIC_KEYS = 1024;

export type KmsKeyProviderOptions = EndpointPoolOptions;

/**
 * A {@link KeyProvider} over a KMS, one {@link KmsBackend} per endpoint (region) of the same service holding the same
 * keys; the first is preferred and the others take over when it stops answering (see {@link EndpointPool}).
 *
 * - `sign`: ECDSA P-256 / SHA-256 in the service (the digest is computed here); IEEE P1363 r‖s.
 * - `verify`: locally with the key's public key, fetched once and cached.
 * - `encrypt`/`decrypt`: AES-256-GCM in the service. The service picks its own IV inside the opaque ciphertext; the
 *   12-byte `nonce` returned is a random value bound into the service's AAD with the caller's `aad`, so the shape of
 *   the contract (and of every format built on it) holds. A caller-chosen nonce is refused.
 * - `wrapKey`/`unwrapKey`, `generateDataKey`: for envelope encryption (see {@link DataKeyCache}).
 *
 * Errors: {@link KmsError} and its subclasses: `KEY_NOT_FOUND`, `ALREADY_EXISTS`, `MECHANISM_UNSUPPORTED`,
 * `DECRYPTION_FAILED`, `INVALID_ARGUMENT`, `PERMISSION_DENIED`, `KEY_DISABLED`, `RESOURCE_EXHAUSTED` (throttled
 * after retries), `UNAVAILABLE` (no endpoint answered), `CONFIG_INVALID`, `CLOSED`.
 */
export class KmsKeyProvider implements KeyProvider {
  readonly kind: string;
  private readonly pool: EndpointPool;
  private readonly publicKeys = new Map<string, KeyInfo>();
  private closed = false;

  constructor(endpoints: KmsBackend | readonly KmsBackend[], options: KmsKeyProviderOptions = {}) {
    this.pool = new EndpointPool(Array.isArray(endpoints) ? endpoints : [endpoints as KmsBackend], options);
    this.kind = this.pool.kind;
  }

  /** Endpoints currently skipped because they stopped answering. */
  get unavailableEndpoints(): string[] {
    return this.pool.down;
  }

  /** Creates a key in the service. Not retried (not idempotent); fails over only when the request never left. */
  async generateKey(id: string, algorithm: KeyAlgorithm): Promise<KeyInfo> {
    this.open();
    if (!this.pool.primary.algorithms.includes(algorithm)) {
      throw new KmsError('MECHANISM_UNSUPPORTED', `${this.kind} keys here are ${this.pool.primary.algorithms.join(', ')}, not ${algorithm}`);
    }
    await this.pool.run('create', false, (b, call) => b.createKey(id, algorithm, call));
    return this.getKey(id);
  }

  async getKey(id: string): Promise<KeyInfo> {
    this.open();
    return toInfo(id, await this.pool.run('describe', true, (b, call) => b.describeKey(id, call)));
  }

  async hasKey(id: string): Promise<boolean> {
    try {
      await this.getKey(id);
      return true;
    } catch (error) {
      if (error instanceof KmsError && error.code === 'KEY_NOT_FOUND') return false;
      throw error;
    }
  }

  /** @throws `MECHANISM_UNSUPPORTED` for a key that cannot sign, `KEY_DISABLED`, `PERMISSION_DENIED`, ... */
  async sign(id: string, data: Uint8Array): Promise<Uint8Array> {
    this.open();
    const digest = new Uint8Array(createHash('sha256').update(data).digest());
    return this.pool.run('sign', true, (b, call) => b.signDigest(id, digest, call));
  }

  /** Verifies locally with the key's public key (fetched once). False for a wrong signature, never a throw. */
  async verify(id: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const info = await this.publicKeyOf(id);
    if (info.algorithm !== 'ecdsa-p256' || !info.publicKey) throw new KmsError('MECHANISM_UNSUPPORTED', `${info.algorithm} key ${id} cannot verify`);
    const key = createPublicKey({ key: Buffer.from(info.publicKey), format: 'der', type: 'spki' });
    if (signature.length !== 64) return false;
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  }

  async encrypt(id: string, input: AeadSealInput): Promise<AeadSealed> {
    this.open();
    if (input.nonce !== undefined) throw new KmsError('INVALID_ARGUMENT', 'AES-GCM nonces are chosen by the provider, never by the caller');
    const nonce = new Uint8Array(randomBytes(12));
    const aad = boundAad(AEAD_LABEL, nonce, input.aad);
    const ciphertext = await this.pool.run('encrypt', true, (b, call) => b.encrypt(id, input.plaintext, aad, call));
    return { nonce, ciphertext };
  }

  /** @throws `DECRYPTION_FAILED` when the ciphertext, nonce or AAD was changed, or it was made under another key. */
  async decrypt(id: string, input: AeadOpenInput): Promise<Uint8Array> {
    this.open();
    if (input.nonce.length !== 12) throw new KmsError('DECRYPTION_FAILED', 'the nonce of a KMS ciphertext is 12 bytes');
    const aad = boundAad(AEAD_LABEL, input.nonce, input.aad);
    return this.pool.run('decrypt', true, (b, call) => b.decrypt(id, input.ciphertext, aad, call));
  }

  async wrapKey(id: string, key: Uint8Array): Promise<Uint8Array> {
    this.open();
    return this.pool.run('wrap', true, (b, call) => b.encrypt(id, key, WRAP_LABEL, call));
  }

  async unwrapKey(id: string, wrapped: Uint8Array): Promise<Uint8Array> {
    this.open();
    return this.pool.run('unwrap', true, (b, call) => b.decrypt(id, wrapped, WRAP_LABEL, call));
  }

  /**
   * A fresh 256-bit data key and the same key wrapped under KMS key `id` (the service's own data-key operation when
   * it has one, else a local CSPRNG key wrapped by the service). `unwrapKey(id, wrapped)` gives the plaintext back.
   */
  async generateDataKey(id: string): Promise<GeneratedDataKey> {
    this.open();
    return this.pool.run('generateDataKey', true, async (b, call) => {
      if (b.generateDataKey) return b.generateDataKey(id, WRAP_LABEL, call);
      const plaintext = new Uint8Array(randomBytes(32));
      return { plaintext, wrapped: await b.encrypt(id, plaintext, WRAP_LABEL, call) };
    });
  }

  /** Closes every endpoint's client. Later calls fail with `CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  private open(): void {
    if (this.closed) throw new KmsError('CLOSED', `${this.kind} key provider is closed`);
  }

  private async publicKeyOf(id: string): Promise<KeyInfo> {
    const cached = this.publicKeys.get(id);
    if (cached) return cached;
    const info = await this.getKey(id);
    if (this.publicKeys.size >= MAX_PUBLIC_KEYS) this.publicKeys.delete(this.publicKeys.keys().next().value as string);
    if (info.publicKey) this.publicKeys.set(id, info);
    return info;
  }
}

function toInfo(id: string, state: KmsKeyState): KeyInfo {
  return { id, algorithm: state.algorithm, extractable: false, ...(state.publicKey ? { publicKey: state.publicKey } : {}) };
}

/** label ‖ nonce ‖ aad: what the service authenticates alongside the ciphertext. */
function boundAad(label: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(label.length + nonce.length + (aad?.length ?? 0));
  out.set(label);
  out.set(nonce, label.length);
  if (aad) out.set(aad, label.length + nonce.length);
  return out;
}
