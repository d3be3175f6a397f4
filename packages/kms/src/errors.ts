// SPDX-License-Identifier: Apache-2.0
// Typed errors every KMS backend maps its service's failures to, so callers handle throttling, missing permissions,
// disabled keys and unreachable endpoints the same way on AWS, Vault, Azure and GCP.
import { EcpsError, type EcpsErrorCode, type EcpsErrorOptions } from '@ecps/core';

/**
 * Any KMS failure. Subclasses name the ones a caller treats specially; the rest keep the `code` of the
 * `KeyProvider` contract (`KEY_NOT_FOUND`, `DECRYPTION_FAILED`, `MECHANISM_UNSUPPORTED`, `ALREADY_EXISTS`,
 * `INVALID_ARGUMENT`, `REMOTE_ERROR` for anything else the service said). `details` carries the backend kind, the
 * endpoint, the operation and the service's own error code; never a credential or key material, and no `cause`
 * (a client library's error can hold the request, headers and token included).
 */
export class KmsError extends EcpsError {
  constructor(code: EcpsErrorCode, message: string, options?: EcpsErrorOptions) {
    super(code, message, options);
    this.name = 'KmsError';
  }

  /** Whether repeating the same idempotent call later may succeed. */
  get retryable(): boolean {
    return false;
  }
}

/** The service is rate-limiting us (AWS ThrottlingException, Vault 429, Azure 429, GCP RESOURCE_EXHAUSTED). */
export class KmsThrottledError extends KmsError {
  constructor(message: string, options?: EcpsErrorOptions) {
    super('RESOURCE_EXHAUSTED', message, options);
    this.name = 'KmsThrottledError';
  }

  override get retryable(): boolean {
    return true;
  }
}

/** The credentials are valid but not allowed to do this (AWS AccessDenied, Vault/Azure 403, GCP PERMISSION_DENIED). */
export class KmsPermissionError extends KmsError {
  constructor(message: string, options?: EcpsErrorOptions) {
    super('PERMISSION_DENIED', message, options);
    this.name = 'KmsPermissionError';
  }
}

/** The key (or the key version a ciphertext names) exists but is disabled. */
export class KmsKeyDisabledError extends KmsError {
  constructor(message: string, options?: EcpsErrorOptions) {
    super('KEY_DISABLED', message, options);
    this.name = 'KmsKeyDisabledError';
  }
}

/**
 * The endpoint did not answer: connection refused, reset, DNS failure, no answer within the attempt timeout, or a
 * 5xx/UNAVAILABLE from the service. `details.sent === false` when the request provably never reached it.
 */
export class KmsUnavailableError extends KmsError {
  constructor(message: string, options?: EcpsErrorOptions) {
    super('UNAVAILABLE', message, options);
    this.name = 'KmsUnavailableError';
  }

  override get retryable(): boolean {
    return true;
  }

  /** True when the request provably never reached the service (so even a non-idempotent call may go elsewhere). */
  get notSent(): boolean {
    return this.details['sent'] === false;
  }
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NETWORK = new Set([...NOT_SENT, 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

/**
 * The network failure inside `error` (its own `code`, or a `cause` chain's), as a {@link KmsUnavailableError}, or
 * undefined when the failure is not a network one. Backends call it first when classifying.
 */
export function networkFailure(error: unknown, context: Readonly<Record<string, unknown>>): KmsUnavailableError | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK.has(code)) {
      // no `cause`: client errors can hold the request, and with it a token
      return new KmsUnavailableError(`${String(context['kind'])} endpoint unreachable (${code})`, {
        details: { ...context, sent: !NOT_SENT.has(code), reason: code },
      });
    }
  }
  return undefined;
}
