// SPDX-License-Identifier: Apache-2.0
// A KeyProvider over any PKCS#11 module (HSM, smart card, SoftHSM2) through graphene-pk11. Keys are found by label
// (CKA_LABEL = key id); private and secret keys are generated on the token as sensitive and non-extractable.
import { createHash, randomBytes } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import type { AeadOpenInput, AeadSealInput, AeadSealed, KeyAlgorithm, KeyInfo } from '@ecps/core';
import { TrustError, encodePublicKey, p256FromPoint, publicKeyObject, verifyWithKeyObject, type KeyAgreementProvider } from '@ecps/trust';
import { pkcs11Error } from './errors';

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  library: string;
  /** Token label to select the slot by. */
  tokenLabel: string;
  /** User PIN. */
  pin: string;
  /** Keep keys across sessions (CKA_TOKEN). Default true. */
  persistent?: boolean;
}

const modules = new Map<string, { module: graphene.Module; refs: number }>();

function acquireModule(library: string): graphene.Module {
  const held = modules.get(library);
  if (held) {
    held.refs++;
    return held.module;
  }
  try {
    const module = graphene.Module.load(library, 'ecps');
    module.initialize();
    modules.set(library, { module, refs: 1 });
    return module;
  } catch (error) {
    throw new TrustError('TOKEN_ABSENT', `cannot load PKCS#11 module ${library}`, { cause: error });
  }
}

function releaseModule(library: string): void {
  const held = modules.get(library);
  if (!held || --held.refs > 0) return;
  modules.delete(library);
  try {
    held.module.finalize();
  } catch {
    // finalizing a module that failed is best effort
  }
}

/**
 * KeyProvider over PKCS#11: ecdsa-p256 (sign/verify; the hash is computed in JS when the token lacks
 * CKM_ECDSA_SHA256; ECDH for sealed envelopes) and aes-256-gcm (encrypt/decrypt, wrap/unwrap). One logged-in R/W session, opened by
 * {@link Pkcs11KeyProvider.open} and released by {@link Pkcs11KeyProvider.close}.
 * Errors: `TOKEN_ABSENT` (no token with the label), `PIN_INCORRECT`, `MECHANISM_UNSUPPORTED` (algorithm not
 * supported here or by the token), `KEY_NOT_FOUND`, `ALREADY_EXISTS`, `DECRYPTION_FAILED`, `CLOSED`.
 */
export class Pkcs11KeyProvider implements KeyAgreementProvider {
  readonly kind = 'pkcs11';
  private session: graphene.Session | undefined;
  private combinedEcdsa = false;

  private constructor(
    private readonly module: graphene.Module,
    private readonly options: Pkcs11Options,
  ) {}

  /**
   * Loads the module (shared by every provider of the process: C_Initialize/C_Finalize are process-wide), finds the
   * token by label, opens a session and logs in.
   */
  static open(options: Pkcs11Options): Pkcs11KeyProvider {
    const provider = new Pkcs11KeyProvider(acquireModule(options.library), options);
    try {
      provider.login();
    } catch (error) {
      releaseModule(options.library);
      throw error;
    }
    return provider;
  }

  private login(): void {
    const slots = this.module.getSlots(true);
    let slot: graphene.Slot | undefined;
    for (let i = 0; i < slots.length; i++) {
      const candidate = slots.items(i);
      if (candidate.getToken().label.trim() === this.options.tokenLabel) slot = candidate;
    }
    if (!slot) throw new TrustError('TOKEN_ABSENT', `no PKCS#11 token labelled ${this.options.tokenLabel}`);
    const mechanisms = slot.getMechanisms();
    for (let i = 0; i < mechanisms.length; i++) {
      if (mechanisms.items(i).name === 'ECDSA_SHA256') this.combinedEcdsa = true;
    }
    try {
      this.session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
      try {
        this.session.login(this.options.pin, graphene.UserType.USER);
      } catch (error) {
        // Login state is per process and token: another provider of this process has logged in already.
        if (!String((error as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw error;
      }
    } catch (error) {
      this.session?.close();
      this.session = undefined;
      throw pkcs11Error(error, 'PKCS#11 login failed');
    }
  }

  /** Whether the token signs with CKM_ECDSA_SHA256 itself (otherwise we hash and use CKM_ECDSA). */
  get hashesOnToken(): boolean {
    return this.combinedEcdsa;
  }

  /** Logs out and releases the module. Idempotent. */
  close(): void {
    if (!this.session) return;
    try {
      this.session.logout();
      this.session.close();
    } finally {
      this.session = undefined;
      releaseModule(this.options.library);
    }
  }

  async generateKey(id: string, algorithm: KeyAlgorithm): Promise<KeyInfo> {
    const session = this.open();
    if (this.findAny(id)) throw new TrustError('ALREADY_EXISTS', `key ${id} exists on the token`);
    const token = this.options.persistent ?? true;
    try {
      if (algorithm === 'ecdsa-p256') {
        session.generateKeyPair(
          graphene.KeyGenMechanism.EC,
          { keyType: graphene.KeyType.EC, label: id, token, verify: true, paramsEC: graphene.NamedCurve.getByName('secp256r1').value },
          { keyType: graphene.KeyType.EC, label: id, token, sign: true, derive: true, private: true, sensitive: true, extractable: false },
        );
      } else if (algorithm === 'aes-256-gcm') {
        session.generateKey(graphene.KeyGenMechanism.AES, {
          keyType: graphene.KeyType.AES,
          class: graphene.ObjectClass.SECRET_KEY,
          label: id,
          token,
          valueLen: 32,
          encrypt: true,
          decrypt: true,
          wrap: true,
          unwrap: true,
          sensitive: true,
          extractable: false,
          private: true,
        });
      } else {
        throw new TrustError('MECHANISM_UNSUPPORTED', `${algorithm} keys are not supported on PKCS#11 (use ecdsa-p256 or aes-256-gcm)`);
      }
    } catch (error) {
      throw pkcs11Error(error, `cannot generate ${algorithm} key ${id}`);
    }
    return this.getKey(id);
  }

  async getKey(id: string): Promise<KeyInfo> {
    const secret = this.find(id, graphene.ObjectClass.SECRET_KEY);
    if (secret) return { id, algorithm: 'aes-256-gcm', extractable: false };
    const pub = this.find(id, graphene.ObjectClass.PUBLIC_KEY);
    if (!pub) throw new TrustError('KEY_NOT_FOUND', `no key labelled ${id} on the token`);
    return { id, algorithm: 'ecdsa-p256', extractable: false, publicKey: this.publicSpki(pub) };
  }

  async hasKey(id: string): Promise<boolean> {
    return this.findAny(id);
  }

  /** ECDSA P-256 over SHA-256; the signature is IEEE P1363 r||s (64 bytes). */
  async sign(id: string, data: Uint8Array): Promise<Uint8Array> {
    const key = this.require(id, graphene.ObjectClass.PRIVATE_KEY, 'sign');
    try {
      const signature = this.combinedEcdsa
        ? this.open().createSign('ECDSA_SHA256', key.toType<graphene.PrivateKey>()).once(Buffer.from(data))
        : this.open().createSign('ECDSA', key.toType<graphene.PrivateKey>()).once(createHash('sha256').update(data).digest());
      return new Uint8Array(signature);
    } catch (error) {
      throw pkcs11Error(error, `cannot sign with ${id}`);
    }
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
    const key = this.require(id, graphene.ObjectClass.PRIVATE_KEY, 'derive');
    if (peerPublicKey.length !== 65 || peerPublicKey[0] !== 4) throw new TrustError('DECRYPTION_FAILED', 'expected an uncompressed P-256 point');
    let secret: graphene.SecretKey | undefined;
    try {
      secret = this.open().deriveKey(
        { name: 'ECDH1_DERIVE', params: new graphene.EcdhParams(graphene.EcKdf.NULL, null, Buffer.from(peerPublicKey)) },
        key.toType<graphene.PrivateKey>(),
        { class: graphene.ObjectClass.SECRET_KEY, keyType: graphene.KeyType.GENERIC_SECRET, token: false, sensitive: false, extractable: true, valueLen: 32 },
      );
      return new Uint8Array(secret.getAttribute({ value: null }).value as Buffer);
    } catch (error) {
      const mapped = pkcs11Error(error, `ECDH with ${id} failed`);
      throw mapped.code === 'INTERNAL' ? new TrustError('DECRYPTION_FAILED', mapped.message, { cause: error }) : mapped;
    } finally {
      secret?.destroy();
    }
  }

  async encrypt(id: string, input: AeadSealInput): Promise<AeadSealed> {
    const key = this.require(id, graphene.ObjectClass.SECRET_KEY, 'encrypt');
    const nonce = input.nonce ?? new Uint8Array(randomBytes(12));
    if (nonce.length !== 12) throw new TrustError('INVALID_ARGUMENT', 'AES-GCM nonces are 12 bytes');
    try {
      const params = new graphene.AesGcm240Params(Buffer.from(nonce), Buffer.from(input.aad ?? new Uint8Array(0)), 128);
      const out = this.open()
        .createCipher({ name: 'AES_GCM', params }, key.toType<graphene.SecretKey>())
        .once(Buffer.from(input.plaintext), Buffer.alloc(input.plaintext.length + 16));
      return { nonce, ciphertext: new Uint8Array(out) };
    } catch (error) {
      throw pkcs11Error(error, `cannot encrypt with ${id}`);
    }
  }

  async decrypt(id: string, input: AeadOpenInput): Promise<Uint8Array> {
    const key = this.require(id, graphene.ObjectClass.SECRET_KEY, 'decrypt');
    if (input.nonce.length !== 12 || input.ciphertext.length < 16) throw new TrustError('DECRYPTION_FAILED', 'malformed AES-GCM input');
    try {
      const params = new graphene.AesGcm240Params(Buffer.from(input.nonce), Buffer.from(input.aad ?? new Uint8Array(0)), 128);
      const out = this.open()
        .createDecipher({ name: 'AES_GCM', params }, key.toType<graphene.SecretKey>())
        .once(Buffer.from(input.ciphertext), Buffer.alloc(input.ciphertext.length));
      return new Uint8Array(out);
    } catch (error) {
      // Any failure of an AEAD open is an authentication failure to the caller.
      const mapped = pkcs11Error(error, `cannot decrypt with ${id}`);
      throw mapped.code === 'INTERNAL' ? new TrustError('DECRYPTION_FAILED', mapped.message, { cause: error }) : mapped;
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

  private open(): graphene.Session {
    if (!this.session) throw new TrustError('CLOSED', 'PKCS#11 provider is closed');
    return this.session;
  }

  private find(id: string, cls: graphene.ObjectClass): graphene.SessionObject | undefined {
    const found = this.open().find({ class: cls, label: id });
    return found.length > 0 ? found.items(0) : undefined;
  }

  private findAny(id: string): boolean {
    return this.open().find({ label: id }).length > 0;
  }

  private require(id: string, cls: graphene.ObjectClass, op: string): graphene.SessionObject {
    const key = this.find(id, cls);
    if (key) return key;
    if (this.findAny(id)) throw new TrustError('MECHANISM_UNSUPPORTED', `key ${id} cannot ${op}`);
    throw new TrustError('KEY_NOT_FOUND', `no key labelled ${id} on the token`);
  }

  private publicSpki(pub: graphene.SessionObject): Uint8Array {
    // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
    const der = pub.toType<graphene.PublicKey>().getAttribute({ pointEC: null }).pointEC as Buffer;
    const point = der[0] === 0x04 && der.length === 67 && der[1] === 0x41 ? der.subarray(2) : der.length === 65 ? der : der.subarray(der.length - 65);
    return encodePublicKey('ecdsa-p256', p256FromPoint(new Uint8Array(point)));
  }
}
