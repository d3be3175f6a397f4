// SPDX-License-Identifier: Apache-2.0
// Errors of the management API that are not about bots: credentials, permissions, limits, configuration, patches.
import { EcpsError, isEcpsError, type EcpsErrorCode } from '@ecps/core';
import type { FieldError } from '@ecps/codex-registry';

/** Every reason the API itself refuses something. Closed: add one here, never invent one at a throw site. */
export const API_ERROR_REASONS = {
  validation_error: { status: 400, code: 'INVALID_ARGUMENT' },
  unauthorized: { status: 401, code: 'UNAUTHENTICATED' },
  forbidden: { status: 403, code: 'PERMISSION_DENIED' },
  not_found: { status: 404, code: 'NOT_FOUND' },
  conflict: { status: 409, code: 'ALREADY_EXISTS' },
  invalid_transition: { status: 409, code: 'CONFLICT' },
  payload_too_large: { status: 413, code: 'MESSAGE_TOO_LARGE' },
  unsupported_media_type: { status: 415, code: 'INVALID_ARGUMENT' },
  rate_limited: { status: 429, code: 'RESOURCE_EXHAUSTED' },
  stt_disabled: { status: 400, code: 'UNSUPPORTED' },
  stt_failed: { status: 500, code: 'INTERNAL' },
  internal_error: { status: 500, code: 'INTERNAL' },
  unavailable: { status: 503, code: 'UNAVAILABLE' },
  config_invalid: { status: 500, code: 'CONFIG_INVALID' },
} as const satisfies Record<string, { status: number; code: EcpsErrorCode }>;

export type ApiErrorReason = keyof typeof API_ERROR_REASONS;

/**
 * Thrown by the API's own layers (auth, RBAC, limits, configuration, patches, speech). `reason` is the error body's
 * `code`, `status` the HTTP status; `retryAfterSec` is sent as `Retry-After` with a 429.
 */
export class ApiError extends EcpsError {
  readonly reason: ApiErrorReason;
  readonly status: number;
  readonly errors: readonly FieldError[];
  readonly retryAfterSec: number | undefined;

  constructor(reason: ApiErrorReason, message: string, options: { cause?: unknown; errors?: readonly FieldError[]; retryAfterSec?: number } = {}) {
    super(API_ERROR_REASONS[reason].code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'CodexApiError';
    this.reason = reason;
    this.status = API_ERROR_REASONS[reason].status;
    this.errors = options.errors ?? [];
    this.retryAfterSec = options.retryAfterSec;
  }
}

/** True for an {@link ApiError} (from any copy of this package); narrows on `reason` when given. */
export function isApiError(value: unknown, reason?: ApiErrorReason): value is ApiError {
  if (!isEcpsError(value) || value.name !== 'CodexApiError') return false;
  return reason === undefined || (value as ApiError).reason === reason;
}
