// SPDX-License-Identifier: Apache-2.0
// Signature algorithms of the trust layer: Ed25519 (ours), ECDSA P-256 (HSMs; IEEE P1363 r||s), RSA-PSS SHA-256
// (reference Python signer, maximum salt, auto-detected on verify), RSA PKCS#1 v1.5 only when explicitly allowed.
import { constants, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import type { KeyAlgorithm } from '@ecps/core';
import { TrustError } from './errors';

/** Names carried in envelopes (`alg`). */
export type SignatureAlgorithm = 'Ed25519' | 'ES256' | 'PS256' | 'RS256';

/** The envelope algorithm for a key's algorithm. @throws TrustError `MECHANISM_UNSUPPORTED` for non-signing keys. */
export function signatureAlgorithmOf(algorithm: KeyAlgorithm): SignatureAlgorithm {
  switch (algorithm) {
    case 'ed25519':
      return 'Ed25519';
    case 'ecdsa-p256':
      return 'ES256';
    case 'rsa-pss-2048':
      return 'PS256';
    default:
      throw new TrustError('MECHANISM_UNSUPPORTED', `${algorithm} keys cannot sign`);
  }
}

/** Signs with a private key (what the software provider does). ECDSA output is r||s (64 bytes). */
export function signWithKeyObject(alg: SignatureAlgorithm, key: KeyObject, data: Uint8Array): Uint8Array {
  switch (alg) {
    case 'Ed25519':
      return new Uint8Array(nodeSign(null, data, key));
    case 'ES256':
      return new Uint8Array(nodeSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
    case 'PS256':
      return new Uint8Array(nodeSign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN }));
    case 'RS256':
      return new Uint8Array(nodeSign('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }));
  }
}

/**
 * Verifies a signature; never throws for a bad signature (returns false). RSA-PSS accepts any salt length
 * (the reference uses the maximum, 222 bytes for RSA-2048). ECDSA accepts r||s or DER.
 */
export function verifyWithKeyObject(alg: SignatureAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (alg) {
      case 'Ed25519':
        return key.asymmetricKeyType === 'ed25519' && nodeVerify(null, data, key, signature);
      case 'ES256':
        if (key.asymmetricKeyType !== 'ec') return false;
        return nodeVerify('sha256', data, { key, dsaEncoding: signature.length === 64 ? 'ieee-p1363' : 'der' }, signature);
      case 'PS256':
        return (
          key.asymmetricKeyType === 'rsa' &&
          nodeVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature)
        );
      case 'RS256':
        return key.asymmetricKeyType === 'rsa' && nodeVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    }
  } catch {
    return false;
  }
  return false;
}
