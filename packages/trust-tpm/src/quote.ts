// SPDX-License-Identifier: Apache-2.0
// The structures a TPM signs and the signature it signs them with: TPMS_ATTEST (here: a quote) and TPMT_SIGNATURE,
// parsed from untrusted bytes, and the signature checked with node:crypto. No TPM needed.
import { createHash, constants, verify as nodeVerify } from 'node:crypto';
import { TrustError } from '@ecps/trust';
import { HASHES, TPM_ALG } from './constants';
import { TpmReader, TpmWriter } from './marshal';
import { readPcrSelection, type PcrSelection } from './pcr-selection';
import { publicKeyOf, type TpmPublic } from './public-area';

/** TPMS_CLOCK_INFO. `resetCount` and `restartCount` are obfuscated by the TPM for keys outside the endorsement hierarchy. */
export interface TpmClockInfo {
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
}

/** A TPMS_ATTEST (any type); `quote` is present when it is a TPM_ST_ATTEST_QUOTE. */
export interface TpmAttest {
  readonly magic: number;
  readonly type: number;
  readonly qualifiedSigner: Uint8Array;
  readonly extraData: Uint8Array;
  readonly clockInfo: TpmClockInfo;
  readonly firmwareVersion: bigint;
  readonly quote?: { readonly pcrSelection: PcrSelection[]; readonly pcrDigest: Uint8Array };
}

const ATTEST_QUOTE = 0x8018;

/**
 * Parses a TPMS_ATTEST. Magic and type are returned, not checked (the verifier names which check failed).
 * @throws TrustError `DECODE_ERROR` for truncated or trailing bytes, or oversized fields.
 */
export function parseAttest(bytes: Uint8Array): TpmAttest {
  const r = new TpmReader(bytes, 'TPMS_ATTEST');
  const magic = r.u32();
  const type = r.u16();
  const qualifiedSigner = r.sized(2 + 64);
  const extraData = r.sized(2 + 64);
  const clockInfo = { clock: r.u64(), resetCount: r.u32(), restartCount: r.u32(), safe: r.u8() === 1 };
  const firmwareVersion = r.u64();
  if (type !== ATTEST_QUOTE) return { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion };
  const pcrSelection = readPcrSelection(r);
  const pcrDigest = r.sized(64);
  r.end();
  return { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, quote: { pcrSelection, pcrDigest } };
}

/** A TPMT_SIGNATURE: ECDSA (r, s) or RSASSA/RSAPSS (one value). */
export type TpmSignature =
  | { readonly alg: 'ecdsa'; readonly hash: number; readonly r: Uint8Array; readonly s: Uint8Array }
  | { readonly alg: 'rsassa' | 'rsapss'; readonly hash: number; readonly signature: Uint8Array };

/**
 * Parses a TPMT_SIGNATURE (the whole buffer).
 * @throws TrustError `DECODE_ERROR` for another algorithm, truncated or trailing bytes.
 */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  const r = new TpmReader(bytes, 'TPMT_SIGNATURE');
  const alg = r.u16();
  let out: TpmSignature;
  if (alg === TPM_ALG.ECDSA) {
    out = { alg: 'ecdsa', hash: r.u16(), r: r.sized(66), s: r.sized(66) };
  } else if (alg === TPM_ALG.RSASSA || alg === TPM_ALG.RSAPSS) {
    out = { alg: alg === TPM_ALG.RSASSA ? 'rsassa' : 'rsapss', hash: r.u16(), signature: r.sized(512) };
  } else {
    throw new TrustError('DECODE_ERROR', `unsupported signature algorithm 0x${alg.toString(16)}`);
  }
  r.end();
  return out;
}

/** Marshals a TPMT_SIGNATURE (used by tests to tamper with one). */
export function marshalSignature(sig: TpmSignature): Uint8Array {
  const w = new TpmWriter();
  if (sig.alg === 'ecdsa') return w.u16(TPM_ALG.ECDSA).u16(sig.hash).sized(sig.r).sized(sig.s).bytes();
  return w.u16(sig.alg === 'rsassa' ? TPM_ALG.RSASSA : TPM_ALG.RSAPSS).u16(sig.hash).sized(sig.signature).bytes();
}

function fixed(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.length > size) {
    // a leading zero the TPM kept is harmless; anything longer is not a P-256 scalar
    const extra = bytes.subarray(0, bytes.length - size);
    if (extra.some((b) => b !== 0)) throw new TrustError('SIGNATURE_INVALID', 'ECDSA value longer than the curve order');
    return bytes.subarray(bytes.length - size);
  }
  const out = new Uint8Array(size);
  out.set(bytes, size - bytes.length);
  return out;
}

/** r‖s, 32 bytes each: the encoding the trust layer uses for ES256. */
export function ecdsaRawSignature(sig: TpmSignature): Uint8Array {
  if (sig.alg !== 'ecdsa') throw new TrustError('MECHANISM_UNSUPPORTED', `${sig.alg} is not an ECDSA signature`);
  const out = new Uint8Array(64);
  out.set(fixed(sig.r, 32), 0);
  out.set(fixed(sig.s, 32), 32);
  return out;
}

/**
 * Whether `signature` by `key` verifies over `data` (hashed with the signature's hash). The signature's scheme must
 * fit the key: ECDSA for an ECC key, RSASSA or RSAPSS for an RSA key. Never throws for a bad signature.
 */
export function verifyTpmSignature(key: TpmPublic, data: Uint8Array, signature: TpmSignature): boolean {
  const hash = HASHES[signature.hash];
  if (!hash || signature.hash === TPM_ALG.SHA1) return false;
  try {
    const object = publicKeyOf(key);
    if (signature.alg === 'ecdsa') {
      if (key.type !== 'ecc') return false;
      return nodeVerify(hash.name, data, { key: object, dsaEncoding: 'ieee-p1363' }, ecdsaRawSignature(signature));
    }
    if (key.type !== 'rsa') return false;
    const padding = signature.alg === 'rsapss' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
    return nodeVerify(hash.name, data, { key: object, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature.signature);
  } catch {
    return false;
  }
}

/** The digest a quote carries: H(PCR values in selection order), with the signature's hash. */
export function pcrDigest(hash: number, values: readonly Uint8Array[]): Uint8Array {
  const h = createHash(HASHES[hash]?.name ?? 'sha256');
  for (const v of values) h.update(v);
  return new Uint8Array(h.digest());
}
