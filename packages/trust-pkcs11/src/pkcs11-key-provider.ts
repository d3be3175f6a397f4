// SPDX-License-Identifier: Apache-2.0
// A KeyProvider over any PKCS#11 module (HSM, smart card, SoftHSM2) through graphene-pk11. Keys are found by label
// (CKA_LABEL = key id); private and secret keys are generated on the token as sensitive and non-extractable, and
// single-purpose. Every token call runs in a worker thread, so the device's latency never blocks the event loop.
import { createHash, randomBytes } from 'node:crypto';
import type { AeadOpenInput, AeadSealInput, AeadSealed, KeyAlgorithm, KeyInfo } from '@ecps/core';
import { TrustError, encodePublicKey, p256FromPoint, publicKeyObject, verifyWithKeyObject, type KeyAgreementProvider } from '@ecps/trust';
import { TokenThread } from './token-thread';
import type { KeyDescription } from './token-worker';

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  library: string;
  /** Token label to select the slot by. */
  tokenLabel: string;
  /** User PIN. */
  pin: string;
  /** Keep keys across sessions (CKA_TOKEN). Default true. */
  persistent?: boolean;
  /**
   * AES-GCM encryptions allowed per key by this provider (random 96-bit nonces: NIST SP 800-38D allows 2^32).
   * Counted in memory from `open()`: the token keeps no count. Default 2^32.
   */
  maxEncryptionsPerKey?: number;
}

/** What an ecdsa-p256 key is for: signing (`CKA_SIGN`) or key agreement for sealing (`CKA_DERIVE`), never both. */
export type Pkcs11KeyUsage = 'sign' | 'derive';

/**
 * KeyProvider over PKCS#11: ecdsa-p256 (sign/verify, or ECDH for sealed envelopes: one or the other per key) and
 * aes-256-gcm (encrypt/decrypt, wrap/unwrap). One logged-in R/W session, opened by {@link Pkcs11KeyProvider.open}
 * and released by {@link Pkcs11KeyProvider.close}; the calls run in a worker thread shared by every provider of the
 * process.
 * Errors: `TOKEN_ABSENT` (no token with the label), `PIN_INCORRECT`, `MECHANISM_UNSUPPORTED` (algorithm not
 * supported here or by the token, or a key used for what it was not generated for), `KEY_NOT_FOUND`,
 * `ALREADY_EXISTS`, `DECRYPTION_FAILED`, `INVALID_ARGUMENT` (a caller-chosen nonce), `RESOURCE_EXHAUSTED` (the
 * per-key encryption limit), `UNAVAILABLE` (the worker stopped), `CLOSED`.
 */
export class Pkcs11KeyProvider implements KeyAgreementProvider {
  readonly kind = 'pkcs11';
  private session: number | undefined;
  private readonly encryptions = new Map<string, number>();

  private constructor(
    private readonly thread: TokenThread,
    private readonly options: Pkcs11Options,
    session: number,
    private readonly combinedEcdsa: boolean,
  ) {
    this.session = session;
  }

  /**
   * Loads the module (once per process: C_Initialize/C_Finalize are process-wide), finds the token by label, opens a
   * session and logs in, all off the event loop.
   */
  static async open(options: Pkcs11Options): Promise<Pkcs11KeyProvider> {
    const thread = TokenThread.acquire();
    try {
      const { session, combinedEcdsa } = await thread.call<{ session: number; combinedEcdsa: boolean }>(
        'open',
        'PKCS#11 login failed',
        options.library,
        options.tokenLabel,
        options.pin,
      );
      return new Pkcs11KeyProvider(thread, options, session, combinedEcdsa);
    } catch (error) {
      await thread.release();
      throw error;
    }
  }

  /** Whether the token signs with CKM_ECDSA_SHA256 itself (otherwise we hash and use CKM_ECDSA). */
  get hashesOnToken(): boolean {
    return this.combinedEcdsa;
  }

  /** Logs out and releases the module (and the worker, with the last provider). Idempotent. */
  async close(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    this.session = undefined;
    try {
      await this.thread.call('close', 'PKCS#11 logout failed', session);
    } finally {
      await this.thread.release();
    }
  }

  /**
   * Generates a key on the token. An ecdsa-p256 key is single-purpose: `usage: 'sign'` (the default) gives
   * `CKA_SIGN` only, `usage: 'derive'` (a sealing key) `CKA_DERIVE` only; the token refuses the other operation.
   */
  async generateKey(id: string, algorithm: KeyAlgorithm, options: { usage?: Pkcs11KeyUsage } = {}): Promise<KeyInfo> {
    await this.call('generate', `cannot generate ${algorithm} key ${id}`, id, algorithm, options.usage ?? 'sign', this.options.persistent ?? true);
    return this.getKey(id);
  }

  async getKey(id: string): Promise<KeyInfo> {
    const key = await this.call<KeyDescription>('describe', `cannot read key ${id}`, id);
    if (!key) throw new TrustError('KEY_NOT_FOUND', `no key labelled ${id} on the token`);
    if (key.kind === 'secret') return { id, algorithm: 'aes-256-gcm', extractable: false };
    return { id, algorithm: 'ecdsa-p256', extractable: false, publicKey: spkiFromEcPoint(key.ecPoint) };
  }

  async hasKey(id: string): Promise<boolean> {
    return this.call<boolean>('exists', `cannot look up ${id}`, id);
  }

  /** ECDSA P-256 over SHA-256; the signature is IEEE P1363 r||s (64 bytes). */
  async sign(id: string, data: Uint8Array): Promise<Uint8Array> {
    const digest = this.combinedEcdsa ? undefined : new Uint8Array(createHash('sha256').update(data).digest());
    return this.call<Uint8Array>('sign', `cannot sign with ${id}`, id, data, digest);
  }

  /** Verified in JS with the exported public key (no round trip to the token). */
  async verify(id: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const info = await this.getKey(id);
    if (!info.publicKey) throw new TrustError('MECHANISM_UNSUPPORTED', `${id} cannot verify`);
    return verifyWithKeyObject('ES256', publicKeyObject('ecdsa-p256', info.publicKey), data, signature);
  }

  /**
   * P-256 ECDH on the token (CKM_ECDH1_DERIVE, no KDF) with an uncompressed peer point; the shared secret comes back
   * as a session-only, extractable generic secret (HKDF runs in JS, as the sealed-envelope format requires).
   */
  async deriveSharedSecret(id: string, peerPublicKey: Uint8Array): Promise<Uint8Array> {
    if (peerPublicKey.length !== 65 || peerPublicKey[0] !== 4) throw new TrustError('DECRYPTION_FAILED', 'expected an uncompressed P-256 point');
    try {
      return await this.call<Uint8Array>('derive', `ECDH with ${id} failed`, id, peerPublicKey);
    } catch (error) {
      throw asDecryptionFailure(error);
    }
  }

  /**
   * AES-256-GCM on the token with a fresh random nonce.
   * @throws TrustError `INVALID_ARGUMENT` for a caller-chosen nonce, `RESOURCE_EXHAUSTED` past the per-key limit.
   */
  async encrypt(id: string, input: AeadSealInput): Promise<AeadSealed> {
    if (input.nonce !== undefined) throw new TrustError('INVALID_ARGUMENT', 'AES-GCM nonces are chosen by the provider, never by the caller');
    const used = this.encryptions.get(id) ?? 0;
    const limit = this.options.maxEncryptionsPerKey ?? 2 ** 32;
    if (used >= limit) throw new TrustError('RESOURCE_EXHAUSTED', `key ${id} has made ${used} AES-GCM encryptions: rotate it`, { details: { keyId: id, limit } });
    this.encryptions.set(id, used + 1);
    const nonce = new Uint8Array(randomBytes(12));
    const ciphertext = await this.call<Uint8Array>('encrypt', `cannot encrypt with ${id}`, id, nonce, input.aad ?? new Uint8Array(0), input.plaintext);
    return { nonce, ciphertext };
  }

  async decrypt(id: string, input: AeadOpenInput): Promise<Uint8Array> {
    if (input.nonce.length !== 12 || input.ciphertext.length < 16) throw new TrustError('DECRYPTION_FAILED', 'malformed AES-GCM input');
    try {
      return await this.call<Uint8Array>('decrypt', `cannot decrypt with ${id}`, id, input.nonce, input.aad ?? new Uint8Array(0), input.ciphertext);
    } catch (error) {
      // Any failure of an AEAD open is an authentication failure to the caller.
      throw asDecryptionFailure(error);
    }
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

  private call<T = void>(op: Parameters<TokenThread['call']>[0], what: string, ...args: unknown[]): Promise<T> {
    if (this.session === undefined) return Promise.reject(new TrustError('CLOSED', 'PKCS#11 provider is closed'));
    return this.thread.call<T>(op, what, this.session, ...args);
  }
}

function asDecryptionFailure(error: unknown): unknown {
  return error instanceof TrustError && error.code === 'INTERNAL' ? new TrustError('DECRYPTION_FAILED', error.message, { cause: error }) : error;
}

/** CKA_EC_POINT (a DER OCTET STRING around the uncompressed point, or the bare point) as SPKI DER. */
function spkiFromEcPoint(der: Uint8Array): Uint8Array {
  const point = der[0] === 0x04 && der.length === 67 && der[1] === 0x41 ? der.subarray(2) : der.length === 65 ? der : der.subarray(der.length - 65);
  return encodePublicKey('ecdsa-p256', p256FromPoint(new Uint8Array(point)));
}
