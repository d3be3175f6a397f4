// SPDX-License-Identifier: Apache-2.0
// Services return ECDSA signatures as DER (AWS, GCP) or r‖s (Azure, Vault JWS); the KeyProvider contract is r‖s.
import { KmsError } from './errors';

/**
 * A DER `ECDSA-Sig-Value` for P-256 as IEEE P1363 r‖s (64 bytes).
 * @throws KmsError `REMOTE_ERROR` when the service sent something that is not one.
 */
export function ecdsaDerToP1363(der: Uint8Array): Uint8Array {
  const bad = (): never => {
    throw new KmsError('REMOTE_ERROR', 'the service returned a malformed ECDSA signature');
  };
  if (der[0] !== 0x30 || der[1] !== der.length - 2) bad();
  const out = new Uint8Array(64);
  let offset = 2;
  for (const slot of [0, 32]) {
    if (der[offset] !== 0x02) bad();
    const length = der[offset + 1] as number;
    let value = der.subarray(offset + 2, offset + 2 + length);
    if (value.length !== length || length === 0) bad();
    while (value.length > 32 && value[0] === 0) value = value.subarray(1);
    if (value.length > 32) bad();
    out.set(value, slot + 32 - value.length);
    offset += 2 + length;
  }
  if (offset !== der.length) bad();
  return out;
}
