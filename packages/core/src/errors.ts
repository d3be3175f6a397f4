// SPDX-License-Identifier: Apache-2.0
// One error family for the whole stack. Identity is by `name` and `code`, never by `instanceof` alone,
// so two copies of a package (or a CJS and an ESM copy) still recognise each other's errors.

/** Every code an ECPS error can carry. Closed: add a code here, never invent one at a throw site. */
export const ERROR_CODES = [
  // generic
  'INVALID_ARGUMENT',
  'DECODE_ERROR',
  'ENCODE_ERROR',
  'CONFIG_INVALID',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'UNSUPPORTED',
  'INTERNAL',
  'IO_ERROR',
  // transport and RPC
  'TIMEOUT',
  'CANCELLED',
  'CLOSED',
  'NOT_CONNECTED',
  'UNAVAILABLE',
  /** The transport cannot run here: a native library or tool it needs is not installed (the message names it). */
  'TRANSPORT_UNAVAILABLE',
  'MESSAGE_TOO_LARGE',
  'QUEUE_FULL',
  'RESOURCE_EXHAUSTED',
  'REMOTE_ERROR',
  'STALE_MESSAGE',
  // wire validation (spec §3)
  'UNSUPPORTED_VERSION',
  'PROMPT_TOO_LARGE',
  'INVALID_TOOL_JSON',
  'FRAME_TOO_LARGE',
  'INVALID_STATE_SHA',
  'MISSING_STATE_SHA',
  'MISSING_ACTION_BODY',
  'INVALID_COMPRESSION_LEVEL',
  'UNSUPPORTED_DTYPE',
  'TENSOR_SIZE_MISMATCH',
  'CHECKSUM_MISMATCH',
  'INVALID_QUERY',
  // storage and logs
  'LOG_CORRUPT',
  'LOG_SEALED',
  // trust
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'SIGNATURE_INVALID',
  'DECRYPTION_FAILED',
  'REPLAY_DETECTED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'KEY_NOT_FOUND',
  'KEY_REVOKED',
  /** A key that exists but is disabled (reversibly, unlike a revoked one), e.g. in a KMS. */
  'KEY_DISABLED',
  'TOKEN_ABSENT',
  'PIN_INCORRECT',
  'MECHANISM_UNSUPPORTED',
  'ATTESTATION_FAILED',
  'WRONG_RECIPIENT',
  // coordination
  'NOT_LEADER',
  'QUORUM_NOT_REACHED',
  'CONFLICT',
] as const;

export type EcpsErrorCode = (typeof ERROR_CODES)[number];

export interface EcpsErrorOptions {
  cause?: unknown;
  /** Structured context (offsets, limits, ids) for logs and tooling. */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Base of every error ECPS throws. Subclasses set their own `name`; `code` says what went wrong.
 * Recognise one with {@link isEcpsError}, which also works across duplicated package copies.
 */
export class EcpsError extends Error {
  readonly code: EcpsErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: EcpsErrorCode, message: string, options: EcpsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EcpsError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Raised when a message or argument breaks a rule of the spec (§3) or of the API. */
export class ValidationError extends EcpsError {
  constructor(code: EcpsErrorCode, message: string, options?: EcpsErrorOptions) {
    super(code, message, options);
    this.name = 'ValidationError';
  }
}

/** Raised by transports: timeouts, closed connections, limits, remote failures. */
export class TransportError extends EcpsError {
  constructor(code: EcpsErrorCode, message: string, options?: EcpsErrorOptions) {
    super(code, message, options);
    this.name = 'TransportError';
  }
}

const codeSet: ReadonlySet<string> = new Set(ERROR_CODES);

/** True for any ECPS error (any subclass, any copy of the package); narrows on `code` when given. */
export function isEcpsError(value: unknown, code?: EcpsErrorCode): value is EcpsError {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { code?: unknown; name?: unknown };
  if (typeof candidate.code !== 'string' || !codeSet.has(candidate.code)) return false;
  if (typeof candidate.name !== 'string' || !candidate.name.endsWith('Error')) return false;
  return code === undefined || candidate.code === code;
}
