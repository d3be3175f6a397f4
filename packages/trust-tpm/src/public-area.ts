// SPDX-License-Identifier: Apache-2.0
// TPMT_PUBLIC: the public area of a TPM object. Templates for the keys we create, parsing (the verifier reads an
// AK's public area from untrusted bytes), names, and conversion to node:crypto keys.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { TrustError } from '@ecps/trust';
import { HASHES, TPM_ALG, TPM_ECC_NIST_P256, TPMA_OBJECT } from './constants';
import { TpmReader, TpmWriter } from './marshal';

/** A TPMT_SYM_DEF_OBJECT / TPMT_*_SCHEME / TPMT_KDF_SCHEME: an algorithm and its one parameter (keyBits or hash). */
export interface AlgorithmChoice {
  readonly alg: number;
  /** Hash algorithm of a scheme, or key bits of a symmetric algorithm. */
  readonly detail?: number;
  /** Mode of a symmetric algorithm (e.g. CFB). */
  readonly mode?: number;
}

interface PublicCommon {
  readonly nameAlg: number;
  readonly attributes: number;
  readonly authPolicy: Uint8Array;
  /** Symmetric algorithm of a storage key (absent: TPM_ALG_NULL). */
  readonly symmetric?: AlgorithmChoice;
  /** Signing or decryption scheme (absent: TPM_ALG_NULL). */
  readonly scheme?: AlgorithmChoice;
}

export interface EccPublic extends PublicCommon {
  readonly type: 'ecc';
  readonly curve: number;
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

export interface RsaPublic extends PublicCommon {
  readonly type: 'rsa';
  readonly keyBits: number;
  /** 0 means the default, 65537. */
  readonly exponent: number;
  readonly modulus: Uint8Array;
}

/** The public area of an ECC or RSA key. */
export type TpmPublic = EccPublic | RsaPublic;

const NULL_ALG: AlgorithmChoice = { alg: TPM_ALG.NULL };
const AES_128_CFB: AlgorithmChoice = { alg: TPM_ALG.AES, detail: 128, mode: TPM_ALG.CFB };
const ECDSA_SHA256: AlgorithmChoice = { alg: TPM_ALG.ECDSA, detail: TPM_ALG.SHA256 };
const RSAPSS_SHA256: AlgorithmChoice = { alg: TPM_ALG.RSAPSS, detail: TPM_ALG.SHA256 };

const A = TPMA_OBJECT;
const KEY_IN_THIS_TPM = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin;

/**
 * The storage root key: an ECC P-256 restricted decryption key under the owner hierarchy (the shape of the TCG
 * provisioning guidance). Recreated from the owner seed whenever needed: same seed and template, same key.
 */
export function storageRootTemplate(): EccPublic {
  return {
    type: 'ecc',
    nameAlg: TPM_ALG.SHA256,
    attributes: KEY_IN_THIS_TPM | A.userWithAuth | A.noDA | A.restricted | A.decrypt,
    authPolicy: new Uint8Array(0),
    symmetric: AES_128_CFB,
    curve: TPM_ECC_NIST_P256,
    x: new Uint8Array(0),
    y: new Uint8Array(0),
  };
}

/** `TPM2_PolicySecret(TPM_RH_ENDORSEMENT)` policy digest: the authPolicy of the TCG default EK. */
export const EK_POLICY = Uint8Array.from(Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex'));

/**
 * The endorsement key: the TCG EK Credential Profile's default ECC P-256 template (restricted decryption key whose
 * use needs `PolicySecret(endorsement)`), so its public key matches the one an EK certificate would name.
 */
export function endorsementKeyTemplate(): EccPublic {
  return {
    type: 'ecc',
    nameAlg: TPM_ALG.SHA256,
    attributes: KEY_IN_THIS_TPM | A.adminWithPolicy | A.restricted | A.decrypt,
    authPolicy: EK_POLICY,
    symmetric: AES_128_CFB,
    curve: TPM_ECC_NIST_P256,
    x: new Uint8Array(32),
    y: new Uint8Array(32),
  };
}

/**
 * An attestation key: a restricted ECDSA P-256 / SHA-256 signing key, so it signs only what the TPM itself made
 * (quotes, or digests the TPM computed of data that cannot pass for a TPM structure). `label` selects one of many
 * AKs: it goes into the template's unique field, so each label derives a different key from the same seed.
 */
export function attestationKeyTemplate(label: string): EccPublic {
  return {
    type: 'ecc',
    nameAlg: TPM_ALG.SHA256,
    attributes: KEY_IN_THIS_TPM | A.userWithAuth | A.noDA | A.restricted | A.sign,
    authPolicy: new Uint8Array(0),
    scheme: ECDSA_SHA256,
    curve: TPM_ECC_NIST_P256,
    x: createHash('sha256').update(`ecps-ak:${label}`).digest(),
    y: new Uint8Array(0),
  };
}

/** An unrestricted signing key created under the storage root: ECDSA P-256 or RSA-2048 PSS, both with SHA-256. */
export function signingKeyTemplate(algorithm: 'ecdsa-p256' | 'rsa-pss-2048'): TpmPublic {
  const common = {
    nameAlg: TPM_ALG.SHA256,
    attributes: KEY_IN_THIS_TPM | A.userWithAuth | A.noDA | A.sign,
    authPolicy: new Uint8Array(0),
  };
  return algorithm === 'ecdsa-p256'
    ? { ...common, type: 'ecc', scheme: ECDSA_SHA256, curve: TPM_ECC_NIST_P256, x: new Uint8Array(0), y: new Uint8Array(0) }
    : { ...common, type: 'rsa', scheme: RSAPSS_SHA256, keyBits: 2048, exponent: 0, modulus: new Uint8Array(0) };
}

function writeChoice(w: TpmWriter, choice: AlgorithmChoice | undefined): void {
  const c = choice ?? NULL_ALG;
  w.u16(c.alg);
  if (c.detail !== undefined) w.u16(c.detail);
  if (c.mode !== undefined) w.u16(c.mode);
}

// Asymmetric schemes whose details are one hash algorithm (RSASSA, RSAES has none, RSAPSS, OAEP, ECDSA, ECDH), and
// block ciphers whose details are key bits and a mode (AES, SM4, Camellia). Anything else would be misparsed.
const HASH_SCHEMES: ReadonlySet<number> = new Set([0x0014, 0x0016, 0x0017, 0x0018, 0x0019]);
const RSAES = 0x0015;
const BLOCK_CIPHERS: ReadonlySet<number> = new Set([0x0006, 0x0013, 0x0026]);

function readScheme(r: TpmReader): AlgorithmChoice | undefined {
  const alg = r.u16();
  if (alg === TPM_ALG.NULL) return undefined;
  if (alg === RSAES) return { alg };
  if (!HASH_SCHEMES.has(alg)) throw new TrustError('DECODE_ERROR', `unsupported key scheme 0x${alg.toString(16)}`);
  return { alg, detail: r.u16() };
}

function readSymmetric(r: TpmReader): AlgorithmChoice | undefined {
  const alg = r.u16();
  if (alg === TPM_ALG.NULL) return undefined;
  if (!BLOCK_CIPHERS.has(alg)) throw new TrustError('DECODE_ERROR', `unsupported symmetric algorithm 0x${alg.toString(16)}`);
  return { alg, detail: r.u16(), mode: r.u16() };
}

/** Marshals a TPMT_PUBLIC. */
export function marshalPublic(pub: TpmPublic): Uint8Array {
  const w = new TpmWriter()
    .u16(pub.type === 'ecc' ? TPM_ALG.ECC : TPM_ALG.RSA)
    .u16(pub.nameAlg)
    .u32(pub.attributes)
    .sized(pub.authPolicy);
  writeChoice(w, pub.symmetric);
  writeChoice(w, pub.scheme);
  if (pub.type === 'ecc') {
    w.u16(pub.curve);
    w.u16(TPM_ALG.NULL); // kdf
    w.sized(pub.x).sized(pub.y);
  } else {
    w.u16(pub.keyBits).u32(pub.exponent).sized(pub.modulus);
  }
  return w.bytes();
}

/**
 * Parses a TPMT_PUBLIC of an ECC or RSA key (the whole buffer).
 * @throws TrustError `DECODE_ERROR` when truncated, trailing, or of another type (keyed hash, symmetric).
 */
export function parsePublic(bytes: Uint8Array): TpmPublic {
  const r = new TpmReader(bytes, 'TPMT_PUBLIC');
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  const authPolicy = r.sized(64);
  let pub: TpmPublic;
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymmetric(r);
    const scheme = readScheme(r);
    const curve = r.u16();
    if (r.u16() !== TPM_ALG.NULL) throw new TrustError('DECODE_ERROR', 'ECC keys with a KDF are not supported');
    pub = { type: 'ecc', nameAlg, attributes, authPolicy, ...(symmetric ? { symmetric } : {}), ...(scheme ? { scheme } : {}), curve, x: r.sized(128), y: r.sized(128) };
  } else if (type === TPM_ALG.RSA) {
    const symmetric = readSymmetric(r);
    const scheme = readScheme(r);
    pub = { type: 'rsa', nameAlg, attributes, authPolicy, ...(symmetric ? { symmetric } : {}), ...(scheme ? { scheme } : {}), keyBits: r.u16(), exponent: r.u32(), modulus: r.sized(512) };
  } else {
    throw new TrustError('DECODE_ERROR', `unsupported TPM object type 0x${type.toString(16)}`);
  }
  r.end();
  return pub;
}

/**
 * The object's Name: `nameAlg ‖ H_nameAlg(TPMT_PUBLIC)`, over the public area exactly as marshalled.
 * @throws TrustError `DECODE_ERROR` for an unknown name algorithm.
 */
export function objectName(publicArea: Uint8Array): Uint8Array {
  const nameAlg = (publicArea[2]! << 8) | publicArea[3]!;
  const hash = HASHES[nameAlg];
  if (!hash) throw new TrustError('DECODE_ERROR', `unknown name algorithm 0x${nameAlg.toString(16)}`);
  return new TpmWriter().u16(nameAlg).raw(createHash(hash.name).update(publicArea).digest()).bytes();
}

function leftPad(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.length >= size) return bytes;
  const out = new Uint8Array(size);
  out.set(bytes, size - bytes.length);
  return out;
}

/**
 * node:crypto public key of a TPM ECC P-256 or RSA key.
 * @throws TrustError `MECHANISM_UNSUPPORTED` for another curve, `INVALID_ARGUMENT` for a malformed point or modulus.
 */
export function publicKeyOf(pub: TpmPublic): KeyObject {
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
  try {
    if (pub.type === 'ecc') {
      if (pub.curve !== TPM_ECC_NIST_P256) throw new TrustError('MECHANISM_UNSUPPORTED', `unsupported ECC curve 0x${pub.curve.toString(16)}`);
      return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(leftPad(pub.x, 32)), y: b64(leftPad(pub.y, 32)) }, format: 'jwk' });
    }
    const e = pub.exponent === 0 ? 65537 : pub.exponent;
    const exponent = new TpmWriter().u32(e).bytes();
    let first = 0;
    while (first < 3 && exponent[first] === 0) first++;
    return createPublicKey({ key: { kty: 'RSA', n: b64(pub.modulus), e: b64(exponent.subarray(first)) }, format: 'jwk' });
  } catch (cause) {
    if (cause instanceof TrustError) throw cause;
    throw new TrustError('INVALID_ARGUMENT', 'malformed TPM public key', { cause });
  }
}

/** SubjectPublicKeyInfo DER of a TPM key (the KeyProvider encoding of ecdsa-p256 and rsa-pss-2048 public keys). */
export function spkiOf(pub: TpmPublic): Uint8Array {
  return new Uint8Array(publicKeyOf(pub).export({ format: 'der', type: 'spki' }));
}

/** Whether every bit of `bits` is set in the object's attributes. */
export function hasAttributes(pub: TpmPublic, bits: number): boolean {
  return (pub.attributes & bits) === bits;
}
