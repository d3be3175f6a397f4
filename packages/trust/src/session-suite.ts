// SPDX-License-Identifier: Apache-2.0
// The AEAD suites a session may run, agreed in its key exchange. ChaCha20-Poly1305 (IETF: 96-bit nonce, 128-bit tag,
// as WireGuard and Noise use) runs through libsodium (sodium-native): one native call per seal or open into memory we
// hand it, about a quarter of what node:crypto's cipher objects cost per 1 KiB message. AES-256-GCM runs through
// node:crypto, for deployments that want AES or where sodium-native's prebuilt binary does not load.
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { TrustError } from './errors';

/** A session's AEAD. */
export type SessionSuiteName = 'chacha20-poly1305' | 'aes-256-gcm';

/** Every suite, in the default order of preference. */
export const SESSION_SUITES: readonly SessionSuiteName[] = Object.freeze(['chacha20-poly1305', 'aes-256-gcm']);

/** Bytes of the nonce both suites take. */
export const SESSION_NONCE_BYTES = 12;
/** Bytes of the authentication tag both suites append. */
export const SESSION_TAG_BYTES = 16;

/** One key of a suite. */
export interface SessionAead {
  /** Writes the ciphertext of `plaintext` and its tag (`plaintext.length + SESSION_TAG_BYTES` bytes) into `out` at `offset`. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, offset: number): void;
  /** The plaintext of `sealed` (ciphertext then tag), in memory of its own. @throws when it does not authenticate. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;
}

/** A suite: its wire id (in the handshake) and how to key it. */
export interface SessionSuite {
  readonly name: SessionSuiteName;
  readonly id: number;
  /** The AEAD under `key` (32 bytes). A suite may keep a reference to `key`: zeroing it erases the key. */
  key(key: Uint8Array): SessionAead;
}

/** The part of sodium-native's API used here (it ships no types). */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

let sodium: Sodium | null | undefined;

/** sodium-native, loaded on first use; undefined when its binary cannot load here. */
function loadSodium(): Sodium | undefined {
  if (sodium === undefined) {
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch {
      sodium = null;
    }
  }
  return sodium ?? undefined;
}

const chacha20Poly1305: SessionSuite = {
  name: 'chacha20-poly1305',
  id: 2,
  key(key) {
    const lib = loadSodium()!;
    return {
      seal(nonce, plaintext, aad, out, offset) {
        const into = out.subarray(offset, offset + plaintext.length + SESSION_TAG_BYTES);
        lib.crypto_aead_chacha20poly1305_ietf_encrypt(into, plaintext, aad.length > 0 ? aad : null, null, nonce, key);
      },
      open(nonce, sealed, aad) {
        // every byte is written (or the call throws and the buffer is dropped): no need to zero it first
        const plain = Buffer.allocUnsafe(sealed.length - SESSION_TAG_BYTES);
        lib.crypto_aead_chacha20poly1305_ietf_decrypt(plain, null, sealed, aad.length > 0 ? aad : null, nonce, key);
        return new Uint8Array(plain.buffer, plain.byteOffset, plain.length);
      },
    };
  },
};

const aes256Gcm: SessionSuite = {
  name: 'aes-256-gcm',
  id: 1,
  key(key) {
    const secret = createSecretKey(key);
    return {
      seal(nonce, plaintext, aad, out, offset) {
        const cipher = createCipheriv('aes-256-gcm', secret, nonce);
        if (aad.length > 0) cipher.setAAD(aad); // GCM with empty AAD is GCM without AAD: skip the native call
        out.set(cipher.update(plaintext), offset);
        cipher.final(); // GCM emits nothing here
        out.set(cipher.getAuthTag(), offset + plaintext.length);
      },
      open(nonce, sealed, aad) {
        const bodyLength = sealed.length - SESSION_TAG_BYTES;
        const decipher = createDecipheriv('aes-256-gcm', secret, nonce);
        if (aad.length > 0) decipher.setAAD(aad);
        decipher.setAuthTag(sealed.subarray(bodyLength));
        const plain = decipher.update(sealed.subarray(0, bodyLength));
        decipher.final();
        return new Uint8Array(plain.buffer, plain.byteOffset, plain.length);
      },
    };
  },
};

const BY_NAME: Readonly<Record<SessionSuiteName, SessionSuite>> = { 'chacha20-poly1305': chacha20Poly1305, 'aes-256-gcm': aes256Gcm };

/** The suites that run here, in the default order of preference (ChaCha20-Poly1305 only when sodium-native loads). */
export function availableSessionSuites(): SessionSuiteName[] {
  return SESSION_SUITES.filter((name) => name !== 'chacha20-poly1305' || loadSodium() !== undefined);
}

/**
 * The suite named `name`.
 * @throws TrustError `INVALID_ARGUMENT` for an unknown name; `MECHANISM_UNSUPPORTED` when it cannot run here
 *   (sodium-native's binary did not load).
 */
export function sessionSuite(name: SessionSuiteName): SessionSuite {
  const suite = Object.hasOwn(BY_NAME, name) ? BY_NAME[name] : undefined;
  if (!suite) throw new TrustError('INVALID_ARGUMENT', `unknown session suite ${String(name)}`);
  if (suite === chacha20Poly1305 && !loadSodium()) throw new TrustError('MECHANISM_UNSUPPORTED', 'chacha20-poly1305 needs sodium-native, whose binary did not load here');
  return suite;
}

/** The suite with wire id `id`, if it is known and runs here. */
export function sessionSuiteById(id: number): SessionSuite | undefined {
  const suite = id === chacha20Poly1305.id ? chacha20Poly1305 : id === aes256Gcm.id ? aes256Gcm : undefined;
  return suite && (suite !== chacha20Poly1305 || loadSodium()) ? suite : undefined;
}

/**
 * The suites a node offers and accepts: `wanted` (in its order) or every available one.
 * @throws TrustError `CONFIG_INVALID` for an empty list or one naming a suite twice; as {@link sessionSuite}.
 */
export function resolveSuites(wanted: readonly SessionSuiteName[] | undefined): readonly SessionSuite[] {
  if (wanted === undefined) return availableSessionSuites().map(sessionSuite);
  if (wanted.length === 0 || new Set(wanted).size !== wanted.length) throw new TrustError('CONFIG_INVALID', 'session suites: a non-empty list without repeats');
  return wanted.map(sessionSuite);
}
