// SPDX-License-Identifier: Apache-2.0
// Typed promise clients for every service: deadlines, retries of UNAVAILABLE, request validation before dispatch,
// errors as EcpsError with the SW4RM ErrorCode attached.
import type { ChannelCredentials, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { Client, Metadata, credentials as grpcCredentials, status as Status } from '@grpc/grpc-js';
import type { EcpsErrorCode } from '@ecps/core';
import { EcpsError, ValidationError } from '@ecps/core';
import type { ErrorCode } from './gen/common';
import { encodeToBuffer } from './encode';
import type { MessageEncoder } from './encode';
import { errorCodeFromGrpcStatus } from './grpc-errors';
import { toInt64 } from './int64';
import type { Sw4rmServiceName } from './services';
import { SW4RM_SERVICES } from './services';

/** Per-call options. */
export interface CallOptions {
  /** Deadline from now; default the client's (10 000 ms). */
  timeoutMs?: number;
  /** Extra metadata. */
  metadata?: Record<string, string>;
  /** Attempts for UNAVAILABLE (unary only); default the client's (3). */
  attempts?: number;
}

/** Options of {@link createClient}. */
export interface ClientOptions {
  credentials?: ChannelCredentials;
  /** Default deadline; 10 000 ms. */
  timeoutMs?: number;
  /** Attempts for UNAVAILABLE; default 3 (backoff 200 ms doubling to 2000 ms). */
  attempts?: number;
  /** grpc-js channel options. */
  channelOptions?: Record<string, string | number>;
  /** Metadata sent with every call (e.g. `authorization: Bearer <jwt>`). */
  metadata?: Record<string, string>;
}

/** A failed RPC: `grpcCode` as received, `sw4rmCode` mapped as SW4RM clients do (spec §6.1). */
export class Sw4rmRpcError extends EcpsError {
  readonly grpcCode: number;
  readonly sw4rmCode: ErrorCode;
  constructor(err: ServiceError) {
    super(ecpsCodeFor(err.code), `${Status[err.code] ?? err.code}: ${err.details || err.message}`, { cause: err });
    this.name = 'Sw4rmRpcError';
    this.grpcCode = err.code;
    this.sw4rmCode = errorCodeFromGrpcStatus(err.code);
  }
}

function ecpsCodeFor(code: number): EcpsErrorCode {
  const map: Partial<Record<number, EcpsErrorCode>> = {
    [Status.UNAVAILABLE]: 'UNAVAILABLE',
    [Status.DEADLINE_EXCEEDED]: 'TIMEOUT',
    [Status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
    [Status.OUT_OF_RANGE]: 'INVALID_ARGUMENT',
    [Status.NOT_FOUND]: 'NOT_FOUND',
    [Status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
    [Status.UNIMPLEMENTED]: 'UNSUPPORTED',
    [Status.CANCELLED]: 'CANCELLED',
    [Status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
    [Status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
    [Status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
    [Status.FAILED_PRECONDITION]: 'CONFLICT',
  };
  return map[code] ?? 'REMOTE_ERROR';
}

type AnyMethod = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: never): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
};
type ReqOf<M> = M extends { requestSerialize(value: infer R): Buffer } ? R : never;
type ResOf<M> = M extends { responseDeserialize(bytes: Buffer): infer R } ? R : never;
/**
 * Accepted request objects: absent fields default (at any depth), 64-bit fields may be safe numbers or decimal strings;
 * protobuf maps are `Map`s (they keep entry order on the wire, integer-like keys included).
 */
export type RequestInput<T> = { [K in keyof T]?: InputValue<T[K]> };
type InputValue<V> = V extends bigint
  ? bigint | number | string
  : V extends Uint8Array | string | number | boolean | undefined
    ? V
    : V extends Map<infer K, infer U>
      ? Map<K, InputValue<U>>
      : V extends readonly (infer U)[]
      ? InputValue<U>[]
      : V extends object
        ? RequestInput<V>
        : V;

/** A promise client of one service (server-streaming methods return the grpc-js stream). */
export type Sw4rmClient<S> = {
  [K in keyof S]: S[K] extends { responseStream: true }
    ? (request: RequestInput<ReqOf<S[K]>>, options?: CallOptions) => ClientReadableStream<ResOf<S[K]>>
    : (request: RequestInput<ReqOf<S[K]>>, options?: CallOptions) => Promise<ResOf<S[K]>>;
} & {
  /** The address dialled. */
  readonly address: string;
  /** Closes the channel. */
  close(): void;
};

/** Client type of a service by short name. */
export type ClientOf<N extends Sw4rmServiceName> = Sw4rmClient<(typeof SW4RM_SERVICES)[N]['grpc']>;

interface MessageFns {
  create(base?: never): unknown;
}

/** One default instance per message type: the field list `prepareRequest` checks against. */
const templates = new WeakMap<MessageFns, Record<string, unknown>>();

/**
 * Checks a request object against its message type: unknown fields are rejected, 64-bit fields are converted
 * to bigint without precision loss.
 * @throws ValidationError INVALID_ARGUMENT for unknown fields; RangeError for unsafe 64-bit numbers.
 */
export function prepareRequest(type: MessageFns, request: Record<string, unknown>): Record<string, unknown> {
  const create = type.create as (base?: unknown) => Record<string, unknown>;
  let template = templates.get(type);
  if (!template) templates.set(type, (template = create()));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(request)) {
    const value = request[key];
    if (!(key in template)) throw new ValidationError('INVALID_ARGUMENT', `unknown field "${key}" in request`);
    if (value === undefined) continue;
    out[key] = typeof template[key] === 'bigint' ? toInt64Or64(value as bigint | number | string, key) : value;
  }
  return create(out);
}

function toInt64Or64(value: bigint | number | string, field: string): bigint {
  // uint64 values above int64 max are legal too: range-check against uint64 first, int64 second
  try {
    return toInt64(value, field);
  } catch (err) {
    if (typeof value === 'number') throw err;
    const v = BigInt(value);
    if (v >= 0n && v <= 18446744073709551615n) return v;
    throw err;
  }
}

/**
 * A typed client of one service at `address` (`host:port`).
 */
export function createClient<N extends Sw4rmServiceName>(name: N, address: string, options: ClientOptions = {}): ClientOf<N> {
  const { grpc, generic } = SW4RM_SERVICES[name];
  const client = new Client(address, options.credentials ?? grpcCredentials.createInsecure(), options.channelOptions ?? {});
  // shared by every call that adds no metadata of its own: grpc-js clones the metadata of a call before touching it
  const clientMetadata = new Metadata();
  if (options.metadata) for (const k in options.metadata) clientMetadata.set(k, options.metadata[k]!);
  const result: Record<string, unknown> = {
    address,
    close: () => client.close(),
  };
  for (const [key, def] of Object.entries(grpc) as [string, AnyMethod][]) {
    const type = (generic.methods as unknown as Record<string, { requestType: MessageFns & MessageEncoder<unknown> }>)[key]!.requestType;
    // the same bytes as def.requestSerialize, through the shared writer and without a second copy
    const serialize = (v: unknown): Buffer => encodeToBuffer(type, v as never);
    result[key] = (request: Record<string, unknown>, call: CallOptions = {}) => {
      const prepared = prepareRequest(type, request);
      const correlation = (prepared['msg'] as { correlationId?: string } | undefined)?.correlationId;
      let metadata = clientMetadata;
      if (correlation || call.metadata) {
        metadata = new Metadata();
        if (correlation) metadata.set('x-correlation-id', correlation);
        // per-call entries after the client's: the call's value wins (set replaces)
        if (options.metadata) for (const k in options.metadata) metadata.set(k, options.metadata[k]!);
        if (call.metadata) for (const k in call.metadata) metadata.set(k, call.metadata[k]!);
      }
      const timeoutMs = call.timeoutMs ?? options.timeoutMs ?? 10_000;
      if (def.responseStream) {
        return client.makeServerStreamRequest(def.path, serialize, def.responseDeserialize, prepared, metadata, { deadline: Date.now() + timeoutMs });
      }
      return unaryWithRetry(client, def, serialize, prepared, metadata, timeoutMs, call.attempts ?? options.attempts ?? 3);
    };
  }
  return result as ClientOf<N>;
}

/** One promise and one callback per attempt: the common case (first attempt answers) allocates nothing else. */
function unaryWithRetry(
  client: Client,
  def: AnyMethod,
  serialize: (v: unknown) => Buffer,
  request: unknown,
  metadata: Metadata,
  timeoutMs: number,
  attempts: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const attempt = (n: number): void => {
      try {
        client.makeUnaryRequest(def.path, serialize, def.responseDeserialize, request, metadata, { deadline: Date.now() + timeoutMs }, (err, value) => {
          if (!err) return resolve(value);
          if (err.code !== Status.UNAVAILABLE || n >= attempts) return reject(new Sw4rmRpcError(err));
          setTimeout(() => attempt(n + 1), Math.min(2000, 200 * 2 ** (n - 1)));
        });
      } catch (err) {
        reject(new Sw4rmRpcError(err as ServiceError));
      }
    };
    attempt(1);
  });
}

/** Client-side address resolution (spec §1.2): `SW4RM_<ROLE>_ADDR`, else `<ROLE>_HOST`:`<ROLE>_PORT`, else defaults. */
export function resolveAddress(role: 'router' | 'registry' | 'scheduler', env: Record<string, string | undefined> = process.env): string {
  const upper = role.toUpperCase();
  const explicit = env[`SW4RM_${upper}_ADDR`];
  if (explicit) return explicit;
  const defaults = { router: 50051, registry: 50052, scheduler: 50053 } as const;
  return `${env[`${upper}_HOST`] || 'localhost'}:${env[`${upper}_PORT`] || defaults[role]}`;
}
