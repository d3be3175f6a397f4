// SPDX-License-Identifier: Apache-2.0
// PKCS#11 return values mapped to ECPS error codes.
import { TrustError } from '@ecps/trust';

const CKR: Record<string, 'PIN_INCORRECT' | 'TOKEN_ABSENT' | 'MECHANISM_UNSUPPORTED' | 'UNAVAILABLE'> = {
  CKR_PIN_INCORRECT: 'PIN_INCORRECT',
  CKR_PIN_LEN_RANGE: 'PIN_INCORRECT',
  CKR_PIN_LOCKED: 'PIN_INCORRECT',
  CKR_TOKEN_NOT_PRESENT: 'TOKEN_ABSENT',
  CKR_TOKEN_NOT_RECOGNIZED: 'TOKEN_ABSENT',
  CKR_SLOT_ID_INVALID: 'TOKEN_ABSENT',
  CKR_DEVICE_REMOVED: 'TOKEN_ABSENT',
  CKR_MECHANISM_INVALID: 'MECHANISM_UNSUPPORTED',
  CKR_MECHANISM_PARAM_INVALID: 'MECHANISM_UNSUPPORTED',
  CKR_KEY_TYPE_INCONSISTENT: 'MECHANISM_UNSUPPORTED',
  CKR_KEY_FUNCTION_NOT_PERMITTED: 'MECHANISM_UNSUPPORTED',
  CKR_DEVICE_ERROR: 'UNAVAILABLE',
};

/** Wraps a graphene/pkcs11js failure in a TrustError with the closest code (`INTERNAL` when unknown). */
export function pkcs11Error(error: unknown, what: string): TrustError {
  if (error instanceof TrustError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const ckr = /CKR_[A-Z_]+/.exec(message)?.[0];
  const code = (ckr && CKR[ckr]) || (ckr === 'CKR_ENCRYPTED_DATA_INVALID' || ckr === 'CKR_ENCRYPTED_DATA_LEN_RANGE' ? 'DECRYPTION_FAILED' : 'INTERNAL');
  return new TrustError(code, `${what}: ${ckr ?? message}`, { cause: error, details: { ckr } });
}
