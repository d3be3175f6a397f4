// SPDX-License-Identifier: Apache-2.0
// The one error class of @ecps/trust; the code says what failed (SIGNATURE_INVALID, REPLAY_DETECTED, ...).
import { EcpsError, type EcpsErrorCode, type EcpsErrorOptions } from '@ecps/core';

/** Raised by every trust check: authentication, authorization, replay, decryption, tokens, keys. */
export class TrustError extends EcpsError {
  constructor(code: EcpsErrorCode, message: string, options?: EcpsErrorOptions) {
    super(code, message, options);
    this.name = 'TrustError';
  }
}
