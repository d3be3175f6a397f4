// SPDX-License-Identifier: Apache-2.0
// gRPC status <-> SW4RM ErrorCode, exactly as SW4RM clients map it (spec §6.1). The numberings differ:
// gRPC 12 (UNIMPLEMENTED) surfaces as ErrorCode 8.
import { status as Status } from '@grpc/grpc-js';
import { ErrorCode } from './gen/common';

/** The SW4RM ErrorCode a gRPC status code maps to. */
export function errorCodeFromGrpcStatus(code: number): ErrorCode {
  switch (code) {
    case Status.RESOURCE_EXHAUSTED:
      return ErrorCode.BUFFER_FULL;
    case Status.NOT_FOUND:
      return ErrorCode.NO_ROUTE;
    case Status.DEADLINE_EXCEEDED:
      return ErrorCode.ACK_TIMEOUT;
    case Status.UNAVAILABLE:
      return ErrorCode.AGENT_UNAVAILABLE;
    case Status.PERMISSION_DENIED:
    case Status.UNAUTHENTICATED:
      return ErrorCode.PERMISSION_DENIED;
    case Status.INVALID_ARGUMENT:
    case Status.OUT_OF_RANGE:
    case Status.FAILED_PRECONDITION:
      return ErrorCode.VALIDATION_ERROR;
    case Status.UNIMPLEMENTED:
      return ErrorCode.UNSUPPORTED_MESSAGE_TYPE;
    default:
      return ErrorCode.INTERNAL_ERROR;
  }
}

/** The gRPC status a server answers for an ErrorCode (the inverse of the client mapping where one exists). */
export function grpcStatusFromErrorCode(code: ErrorCode): Status {
  switch (code) {
    case ErrorCode.BUFFER_FULL:
    case ErrorCode.OVERLOADED:
      return Status.RESOURCE_EXHAUSTED;
    case ErrorCode.NO_ROUTE:
      return Status.NOT_FOUND;
    case ErrorCode.ACK_TIMEOUT:
    case ErrorCode.TOOL_TIMEOUT:
      return Status.DEADLINE_EXCEEDED;
    case ErrorCode.AGENT_UNAVAILABLE:
    case ErrorCode.AGENT_SHUTDOWN:
      return Status.UNAVAILABLE;
    case ErrorCode.PERMISSION_DENIED:
      return Status.PERMISSION_DENIED;
    case ErrorCode.VALIDATION_ERROR:
    case ErrorCode.OVERSIZE_PAYLOAD:
      return Status.INVALID_ARGUMENT;
    case ErrorCode.UNSUPPORTED_MESSAGE_TYPE:
      return Status.UNIMPLEMENTED;
    case ErrorCode.DUPLICATE_DETECTED:
      return Status.ALREADY_EXISTS;
    case ErrorCode.ALREADY_IN_PROGRESS:
      return Status.FAILED_PRECONDITION;
    default:
      return Status.INTERNAL;
  }
}

/** `<lowercase_error_code>: <detail>`, the reason format of business failures ([ours], spec §3.14). */
export function reasonFor(code: ErrorCode, detail: string): string {
  const name = ErrorCode[code] ?? 'internal_error';
  return `${name.toLowerCase()}: ${detail}`;
}
