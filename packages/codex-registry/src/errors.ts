// SPDX-License-Identifier: Apache-2.0
// The one error class of Codex. `reason` is the snake_case code the management API sends; `status` its HTTP status.
import { EcpsError, isEcpsError, type EcpsErrorCode } from '@ecps/core';

/** Every reason a Codex operation can fail for. Closed: add one here, never invent one at a throw site. */
export const CODEX_ERROR_REASONS = {
  validation_error: { status: 400, code: 'INVALID_ARGUMENT' },
  script_not_found: { status: 400, code: 'NOT_FOUND' },
  unsupported_deployment_type: { status: 400, code: 'UNSUPPORTED' },
  sandbox_unavailable: { status: 400, code: 'UNSUPPORTED' },
  not_found: { status: 404, code: 'NOT_FOUND' },
  conflict: { status: 409, code: 'ALREADY_EXISTS' },
  revision_conflict: { status: 409, code: 'CONFLICT' },
  invalid_transition: { status: 409, code: 'CONFLICT' },
  spawn_failed: { status: 500, code: 'INTERNAL' },
  storage_unavailable: { status: 503, code: 'IO_ERROR' },
  registry_locked: { status: 503, code: 'UNAVAILABLE' },
  registry_corrupt: { status: 503, code: 'LOG_CORRUPT' },
  closed: { status: 503, code: 'CLOSED' },
} as const satisfies Record<string, { status: number; code: EcpsErrorCode }>;

export type CodexErrorReason = keyof typeof CODEX_ERROR_REASONS;

/** One schema violation: a JSON pointer into the input and what is wrong there. */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * Process exit codes a server or CLI uses for errors that stop it at start-up (sysexits.h): a registry file held by
 * another process is temporary (75, `EX_TEMPFAIL`), a corrupt one under the `fail` policy is configuration (78, `EX_CONFIG`).
 */
export const EXIT_CODES = { registry_locked: 75, registry_corrupt: 78 } as const;

/**
 * Thrown by every Codex package. `reason` says what went wrong (and maps to the API's error `code`), `status` is the
 * HTTP status the management API answers with, `errors` lists field problems of a `validation_error`.
 */
export class CodexError extends EcpsError {
  readonly reason: CodexErrorReason;
  readonly status: number;
  readonly errors: readonly FieldError[];

  constructor(reason: CodexErrorReason, message: string, options: { cause?: unknown; errors?: readonly FieldError[]; details?: Record<string, unknown> } = {}) {
    super(CODEX_ERROR_REASONS[reason].code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(options.details ? { details: options.details } : {}),
    });
    this.name = 'CodexError';
    this.reason = reason;
    this.status = CODEX_ERROR_REASONS[reason].status;
    this.errors = options.errors ?? [];
  }
}

/** True for a {@link CodexError} (from any copy of this package); narrows on `reason` when given. */
export function isCodexError(value: unknown, reason?: CodexErrorReason): value is CodexError {
  if (!isEcpsError(value) || value.name !== 'CodexError') return false;
  return reason === undefined || (value as CodexError).reason === reason;
}
