// SPDX-License-Identifier: Apache-2.0
// The key state and crypto behind every KMS test server: named keys with versions, enabled flags and real
// cryptography (node:crypto AES-256-GCM, P-256 ECDSA over a digest through @noble/curves, since node:crypto only
// signs messages it hashes itself). Two servers given one SoftKms behave like two regions of a replicated service.
import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';

export type SoftKeyType = 'aes-256-gcm' | 'ecdsa-p256';

export interface SoftKeyVersion {
  readonly version: number;
  readonly secret?: Buffer;
  readonly scalar?: Uint8Array;
  /** SubjectPublicKeyInfo DER (ecdsa-p256). */
  readonly spki?: Buffer;
  enabled: boolean;
}

export interface SoftKey {
  readonly name: string;
  readonly type: SoftKeyType;
  readonly versions: SoftKeyVersion[];
  /** Version used for new encryptions and signatures. */
  primary: number;
  enabled: boolean;
  readonly createdAt: number;
  /** Free-form service data (ARN, alias, key id, ...). */
  readonly meta: Record<string, string>;
}

/** Why a SoftKms operation failed: each server turns it into its own service's error. */
export class SoftKmsError extends Error {
  constructor(
    readonly reason: 'not-found' | 'exists' | 'disabled' | 'wrong-type' | 'auth-failed' | 'bad-input',
    message: string,
  ) {
    super(message);
    this.name = 'SoftKmsError';
  }
}

function newVersion(type: SoftKeyType, version: number): SoftKeyVersion {
  if (type === 'aes-256-gcm') return { version, secret: randomBytes(32), enabled: true };
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url');
  return { version, scalar: new Uint8Array(d), spki: publicKey.export({ format: 'der', type: 'spki' }), enabled: true };
}

/** Key state shared by one or more test servers. */
export class SoftKms {
  readonly keys = new Map<string, SoftKey>();
  /** Names that point at keys (AWS aliases), shared like the keys. */
  readonly aliases = new Map<string, string>();

  create(name: string, type: SoftKeyType, meta: Record<string, string> = {}): SoftKey {
    if (this.keys.has(name)) throw new SoftKmsError('exists', `key ${name} exists`);
    const key: SoftKey = { name, type, versions: [newVersion(type, 1)], primary: 1, enabled: true, createdAt: Date.now(), meta };
    this.keys.set(name, key);
    return key;
  }

  get(name: string): SoftKey {
    const key = this.keys.get(name);
    if (!key) throw new SoftKmsError('not-found', `key ${name} not found`);
    return key;
  }

  /** Adds a version and makes it primary. */
  rotate(name: string): SoftKeyVersion {
    const key = this.get(name);
    const version = newVersion(key.type, key.versions.length + 1);
    key.versions.push(version);
    key.primary = version.version;
    return version;
  }

  /** A version usable now: key enabled, version exists and enabled. */
  usable(name: string, version?: number): { key: SoftKey; version: SoftKeyVersion } {
    const key = this.get(name);
    if (!key.enabled) throw new SoftKmsError('disabled', `key ${name} is disabled`);
    const v = key.versions[(version ?? key.primary) - 1];
    if (!v) throw new SoftKmsError('not-found', `key ${name} has no version ${String(version)}`);
    if (!v.enabled) throw new SoftKmsError('disabled', `version ${v.version} of key ${name} is disabled`);
    return { key, version: v };
  }

  /** AES-256-GCM under the primary version: 12-byte random IV, ciphertext with the tag appended. */
  encrypt(name: string, plaintext: Uint8Array, aad: Uint8Array): { version: number; iv: Buffer; sealed: Buffer } {
    const { key, version } = this.usable(name);
    if (key.type !== 'aes-256-gcm') throw new SoftKmsError('wrong-type', `key ${name} is not a symmetric key`);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', version.secret as Buffer, iv);
    cipher.setAAD(aad);
    return { version: version.version, iv, sealed: Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]) };
  }

  decrypt(name: string, versionNumber: number, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
    const { key, version } = this.usable(name, versionNumber);
    if (key.type !== 'aes-256-gcm') throw new SoftKmsError('wrong-type', `key ${name} is not a symmetric key`);
    if (iv.length !== 12 || sealed.length < 16) throw new SoftKmsError('auth-failed', 'malformed ciphertext');
    try {
      const decipher = createDecipheriv('aes-256-gcm', version.secret as Buffer, iv);
      decipher.setAAD(aad);
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
    } catch {
      throw new SoftKmsError('auth-failed', 'ciphertext did not authenticate');
    }
  }

  /** ECDSA P-256 over a 32-byte digest with the primary (or given) version; r‖s. */
  signDigest(name: string, digest: Uint8Array, versionNumber?: number): { version: number; signature: Uint8Array } {
    const { key, version } = this.usable(name, versionNumber);
    if (key.type !== 'ecdsa-p256') throw new SoftKmsError('wrong-type', `key ${name} cannot sign`);
    if (digest.length !== 32) throw new SoftKmsError('bad-input', 'a SHA-256 digest is 32 bytes');
    return { version: version.version, signature: p256.sign(digest, version.scalar as Uint8Array, { prehash: false, lowS: false }) };
  }
}

/** r‖s (64 bytes) as a DER ECDSA-Sig-Value. */
export function p1363ToDer(signature: Uint8Array): Buffer {
  const int = (bytes: Uint8Array): Buffer => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const trimmed = Buffer.from(bytes.subarray(i));
    return (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  };
  const r = int(signature.subarray(0, 32));
  const s = int(signature.subarray(32));
  const body = Buffer.concat([Buffer.from([0x02, r.length]), r, Buffer.from([0x02, s.length]), s]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
