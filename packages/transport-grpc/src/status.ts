// SPDX-License-Identifier: Apache-2.0
// Mapping between ECPS error codes and gRPC status codes (spec §9: validation -> INVALID_ARGUMENT,
// size -> RESOURCE_EXHAUSTED). The exact ECPS code also travels in the trailer `ecps-error-code`, so a client
// gets back the very code the server threw, not only its gRPC family.
import * as grpc from '@grpc/grpc-js';
import type {
  EcpsError} from '@ecps/core';
import {
  ERROR_CODES,
  TransportError,
  ValidationError,
  isEcpsError,
  type EcpsErrorCode,
} from '@ecps/core';

/** Trailer carrying the exact ECPS error code of a failed call. */
export const ERROR_CODE_METADATA_KEY = 'ecps-error-code';

const VALIDATION_CODES: ReadonlySet<EcpsErrorCode> = new Set<EcpsErrorCode>([
  'INVALID_ARGUMENT',
  'DECODE_ERROR',
  'UNSUPPORTED_VERSION',
  'INVALID_TOOL_JSON',
  'INVALID_STATE_SHA',
  'MISSING_STATE_SHA',
  'MISSING_ACTION_BODY',
  'INVALID_COMPRESSION_LEVEL',
  'UNSUPPORTED_DTYPE',
  'TENSOR_SIZE_MISMATCH',
  'CHECKSUM_MISMATCH',
  'INVALID_QUERY',
  'CONFIG_INVALID',
  'ENCODE_ERROR',
]);

const SIZE_CODES: ReadonlySet<EcpsErrorCode> = new Set<EcpsErrorCode>([
  'MESSAGE_TOO_LARGE',
  'PROMPT_TOO_LARGE',
  'FRAME_TOO_LARGE',
  'RESOURCE_EXHAUSTED',
  'QUEUE_FULL',
]);

const OTHER_CODES: Partial<Record<EcpsErrorCode, grpc.status>> = {
  TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  CANCELLED: grpc.status.CANCELLED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  UNSUPPORTED: grpc.status.UNIMPLEMENTED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  TOKEN_INVALID: grpc.status.UNAUTHENTICATED,
  TOKEN_EXPIRED: grpc.status.UNAUTHENTICATED,
  SIGNATURE_INVALID: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  CLOSED: grpc.status.UNAVAILABLE,
  NOT_CONNECTED: grpc.status.UNAVAILABLE,
  NOT_LEADER: grpc.status.UNAVAILABLE,
  QUORUM_NOT_REACHED: grpc.status.UNAVAILABLE,
  CONFLICT: grpc.status.ABORTED,
};

/** The gRPC status for an error thrown by a service handler; non-ECPS errors become UNKNOWN. */
export function statusForError(error: unknown): grpc.status {
  if (!isEcpsError(error)) return grpc.status.UNKNOWN;
  if (VALIDATION_CODES.has(error.code)) return grpc.status.INVALID_ARGUMENT;
  if (SIZE_CODES.has(error.code)) return grpc.status.RESOURCE_EXHAUSTED;
  return OTHER_CODES[error.code] ?? grpc.status.INTERNAL;
}

/** A `ServiceError`-shaped object grpc-js sends as the call status, with the ECPS code in the trailers. */
export function toServiceError(error: unknown): Partial<grpc.StatusObject> & { code: grpc.status; details: string } {
  const metadata = new grpc.Metadata();
  if (isEcpsError(error)) metadata.set(ERROR_CODE_METADATA_KEY, error.code);
  const message = error instanceof Error ? error.message : String(error);
  return { code: statusForError(error), details: message, metadata };
}

const codeSet: ReadonlySet<string> = new Set(ERROR_CODES);

const FALLBACK: Partial<Record<grpc.status, EcpsErrorCode>> = {
  [grpc.status.CANCELLED]: 'CANCELLED',
  [grpc.status.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
  [grpc.status.NOT_FOUND]: 'NOT_FOUND',
  [grpc.status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [grpc.status.UNIMPLEMENTED]: 'UNSUPPORTED',
  [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
  [grpc.status.ABORTED]: 'CONFLICT',
};

/**
 * The typed ECPS error for a failed call: the server's exact code when it sent one, else the code for the status
 * family (a message refused by grpc-js's size limit becomes `MESSAGE_TOO_LARGE`, a request that cannot be
 * serialized `ENCODE_ERROR`; UNKNOWN and INTERNAL become `REMOTE_ERROR`). Validation failures come back as {@link ValidationError}, the rest as {@link TransportError}.
 */
export function errorFromStatus(status: Partial<grpc.StatusObject> & { code: grpc.status }, method: string): EcpsError {
  const sent = status.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  let code: EcpsErrorCode;
  if (typeof sent === 'string' && codeSet.has(sent)) code = sent as EcpsErrorCode;
  else if (status.code === grpc.status.RESOURCE_EXHAUSTED && /larger than/i.test(status.details ?? '')) code = 'MESSAGE_TOO_LARGE';
  else if (status.code === grpc.status.INTERNAL && /serialization failure/i.test(status.details ?? '')) code = 'ENCODE_ERROR';
  else code = FALLBACK[status.code] ?? 'REMOTE_ERROR';
  const options = { details: { method, grpcStatus: status.code, grpcStatusName: grpc.status[status.code] } };
  const message = `${method}: ${status.details || grpc.status[status.code]}`;
  return status.code === grpc.status.INVALID_ARGUMENT || VALIDATION_CODES.has(code) || code === 'PROMPT_TOO_LARGE' || code === 'FRAME_TOO_LARGE'
    ? new ValidationError(code, message, options)
    : new TransportError(code, message, options);
}

/** True for a grpc-js call error (it carries a numeric status code). */
export function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'number' && 'metadata' in error;
}
