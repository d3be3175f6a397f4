// SPDX-License-Identifier: Apache-2.0
// Maps what the etcd3 client throws onto the closed EcpsError codes the CoordinationStore contract names.
import { EcpsError, isEcpsError } from '@ecps/core';
import type { EcpsErrorCode } from '@ecps/core';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
} from 'etcd3';

function codeOf(error: unknown): EcpsErrorCode {
  if (error instanceof ClientClosedError) return 'CLOSED';
  if (error instanceof EtcdLeaseInvalidError) return 'NOT_FOUND';
  if (error instanceof EtcdPermissionDeniedError || error instanceof EtcdRoleNotGrantedError) return 'PERMISSION_DENIED';
  if (error instanceof EtcdAuthenticationFailedError || error instanceof EtcdInvalidAuthTokenError || error instanceof GRPCUnauthenticatedError) {
    return 'UNAUTHENTICATED';
  }
  if (error instanceof GRPCInvalidArgumentError) return 'INVALID_ARGUMENT';
  if (error instanceof GRPCResourceExhastedError) return 'RESOURCE_EXHAUSTED';
  // deadline exceeded, unavailable, a broken connection, an open circuit breaker: the request may or may not have
  // been applied
  return 'TIMEOUT';
}

/** The EcpsError for a failed etcd call (`method` names it in the message and details). */
export function toEcpsError(error: unknown, method: string): EcpsError {
  if (isEcpsError(error)) return error;
  const code = codeOf(error);
  const reason = error instanceof Error ? error.message : String(error);
  return new EcpsError(code, `etcd ${method}: ${reason}`, { cause: error, details: { method } });
}
