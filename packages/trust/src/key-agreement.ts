// SPDX-License-Identifier: Apache-2.0
// Key agreement, the one operation sealing needs beyond the core KeyProvider contract.
import type { KeyProvider } from '@ecps/core';

/**
 * A KeyProvider that can also run ECDH with a key it holds (x25519, or ecdsa-p256 keys used for P-256 ECDH).
 * Hardware providers implement it when the token supports derivation.
 */
export interface KeyAgreementProvider extends KeyProvider {
  /**
   * The raw ECDH shared secret between key `id` and `peerPublicKey` (raw 32 bytes for x25519, an uncompressed
   * point for P-256). @throws `KEY_NOT_FOUND`, `MECHANISM_UNSUPPORTED`, `DECRYPTION_FAILED` for an invalid point.
   */
  deriveSharedSecret(id: string, peerPublicKey: Uint8Array): Promise<Uint8Array>;
}

/** Whether a provider can run key agreement. */
export function canAgree(provider: KeyProvider): provider is KeyAgreementProvider {
  return typeof (provider as Partial<KeyAgreementProvider>).deriveSharedSecret === 'function';
}
