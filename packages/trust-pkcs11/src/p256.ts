// SPDX-License-Identifier: Apache-2.0
// P-256 point <-> SubjectPublicKeyInfo DER (the KeyProvider encoding of ecdsa-p256 public keys).
import { createPublicKey } from 'node:crypto';
import { TrustError } from '@ecps/trust';

/** SPKI DER of an uncompressed P-256 point. @throws TrustError `INVALID_ARGUMENT` for anything else. */
export function p256SpkiFromPoint(point: Uint8Array): Uint8Array {
  if (point.length !== 65 || point[0] !== 4) throw new TrustError('INVALID_ARGUMENT', 'expected an uncompressed P-256 point');
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: Buffer.from(point.subarray(1, 33)).toString('base64url'), y: Buffer.from(point.subarray(33)).toString('base64url') },
    format: 'jwk',
  });
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}
