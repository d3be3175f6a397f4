// SPDX-License-Identifier: Apache-2.0
// The one error class of @ecps/peat; the code says what failed (DECODE_ERROR, SIGNATURE_INVALID, QUEUE_FULL, ...).
import { EcpsError, type EcpsErrorCode, type EcpsErrorOptions } from '@ecps/core';

/**
 * Raised by every part of Peat: frame decoding, document writes, the sync engine's limits, the handshake,
 * certificates, RBAC and signed-change verification. Recognise it with `isEcpsError(e, code)`.
 */
export class PeatError extends EcpsError {
  constructor(code: EcpsErrorCode, message: string, options?: EcpsErrorOptions) {
    super(code, message, options);
    this.name = 'PeatError';
  }
}
