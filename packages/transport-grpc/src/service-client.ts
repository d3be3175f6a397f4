// SPDX-License-Identifier: Apache-2.0
// A typed client for a ts-proto generic service definition: unary methods return a Promise, server-streaming ones an
// AsyncIterable. Every call has a deadline, honours an AbortSignal, carries trace context as metadata and fails
// with a typed EcpsError.
import * as grpc from '@grpc/grpc-js';
import { AsyncQueue, DEFAULT_REQUEST_TIMEOUT_MS, TransportError, ValidationError, type EcpsError } from '@ecps/core';
import { channelOptionsFor, clientCredentials, type GrpcChannelSettings, type GrpcClientTlsOptions } from './channel-options';
import { methodPath, type GenericMethodDefinition, type GenericServiceDefinition } from './service-server';
import { errorFromStatus, isServiceError } from './status';

export interface GrpcClientOptions extends GrpcChannelSettings {
  /** TLS or mutual TLS; plaintext without it. */
  tls?: GrpcClientTlsOptions;
  /** Deadline of calls that name none. Default 30000 ms (the spec's TRANSPORT_TIMEOUT_S). */
  defaultTimeoutMs?: number;
  /**
   * Metadata added to every call, computed per call: the hook where tracing injects `traceparent`/`tracestate`
   * (see `@ecps/observability`'s `traceMetadata`).
   */
  callMetadata?: () => Readonly<Record<string, string>> | undefined;
}

export interface GrpcCallOptions {
  /** Deadline of the call (of the whole stream for server streaming). */
  timeoutMs?: number;
  /** Cancels the call: it rejects (or the stream throws) with `CANCELLED` and the server's signal aborts. */
  signal?: AbortSignal;
  /** Extra request metadata, e.g. `{ traceparent }`. */
  metadata?: Readonly<Record<string, string>>;
}

type RequestOf<M> = M extends GenericMethodDefinition<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends GenericMethodDefinition<unknown, infer Res> ? Res : never;

/** One function per method of `D`, plus `close()`. */
export type ServiceClient<D extends GenericServiceDefinition> = {
  [K in keyof D['methods']]: D['methods'][K] extends { readonly responseStream: true }
    ? (request: RequestOf<D['methods'][K]>, options?: GrpcCallOptions) => AsyncIterable<ResponseOf<D['methods'][K]>>
    : (request: RequestOf<D['methods'][K]>, options?: GrpcCallOptions) => Promise<ResponseOf<D['methods'][K]>>;
} & {
  /** Closes the channel; later calls fail with `CLOSED`. Idempotent. */
  close(): void;
};

/** Received stream items buffered before the client stops reading (HTTP/2 flow control then slows the server). */
const STREAM_HIGH_WATER = 256;

/**
 * A client for `definition` at `target` (`host:port`).
 * Errors: `TIMEOUT` (deadline), `CANCELLED` (signal), `UNAVAILABLE` (no connection), `MESSAGE_TOO_LARGE` (size bound),
 * the server's own code for handler errors (validation codes as {@link ValidationError}), `REMOTE_ERROR` otherwise,
 * `CLOSED` after `close()`.
 * @throws ValidationError `UNSUPPORTED` for client-streaming or bidirectional methods; `CONFIG_INVALID` for bad TLS.
 */
export function createEcpsClient<D extends GenericServiceDefinition>(
  definition: D,
  target: string,
  options: GrpcClientOptions & { timeouts?: Partial<Record<keyof D['methods'], number>> } = {},
): ServiceClient<D> {
  const { credentials, options: tlsOptions } = clientCredentials(options.tls);
  const client = new grpc.Client(target, credentials, { ...channelOptionsFor(options), ...tlsOptions });
  let closed = false;
  const out: Record<string, unknown> = {
    close: () => {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
  for (const [key, method] of Object.entries(definition.methods)) {
    if (method.requestStream) {
      throw new ValidationError('UNSUPPORTED', `${methodPath(definition, method)}: client streaming is not supported by createEcpsClient`);
    }
    const call: MethodCall = {
      client,
      path: methodPath(definition, method),
      serialize: (value: unknown) => toBuffer(method.requestType.encode(value).finish()),
      deserialize: (bytes: Buffer) => method.responseType.decode(bytes),
      defaultTimeoutMs: options.timeouts?.[key as keyof D['methods']] ?? options.defaultTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      // no per-call metadata configured or given: an empty set, as a plain grpc-js call sends
      metadata: (extra) => (options.callMetadata || extra ? buildMetadata(options.callMetadata?.(), extra) : new grpc.Metadata()),
      isClosed: () => closed,
    };
    out[key] = method.responseStream
      ? (request: unknown, callOptions?: GrpcCallOptions) => serverStream(call, request, callOptions)
      : (request: unknown, callOptions?: GrpcCallOptions) => unary(call, request, callOptions);
  }
  return out as ServiceClient<D>;
}

interface MethodCall {
  client: grpc.Client;
  path: string;
  serialize: (value: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
  defaultTimeoutMs: number;
  metadata: (extra: Readonly<Record<string, string>> | undefined) => grpc.Metadata;
  isClosed: () => boolean;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function buildMetadata(...sources: Array<Readonly<Record<string, string>> | undefined>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const source of sources) {
    if (source) for (const k in source) metadata.set(k, source[k]!);
  }
  return metadata;
}

function callError(error: unknown, path: string): EcpsError {
  if (isServiceError(error)) return errorFromStatus(error, path);
  return new TransportError('INTERNAL', `${path}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/** The call's deadline (ms since the epoch, which grpc-js takes as is). @throws `CLOSED`, `CANCELLED`. */
function preflight(call: MethodCall, options: GrpcCallOptions): number {
  if (call.isClosed()) throw new TransportError('CLOSED', `${call.path}: client closed`);
  if (options.signal?.aborted) throw new TransportError('CANCELLED', `${call.path}: cancelled`, { cause: options.signal.reason });
  return Date.now() + (options.timeoutMs ?? call.defaultTimeoutMs);
}

const NO_CALL_OPTIONS: GrpcCallOptions = Object.freeze({});

function unary(call: MethodCall, request: unknown, options: GrpcCallOptions = NO_CALL_OPTIONS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const deadline = preflight(call, options);
    const { signal } = options;
    const onAbort = signal ? () => pending.cancel() : undefined;
    const pending = call.client.makeUnaryRequest(call.path, call.serialize, call.deserialize, request, call.metadata(options.metadata), { deadline }, (error, response) => {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      if (error) reject(callError(error, call.path));
      else resolve(response);
    });
    if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A server stream as an AsyncIterable. Hand-written rather than an async generator: one promise per item instead of
 * two, which matters at tens of thousands of items per second.
 */
function serverStream(call: MethodCall, request: unknown, options: GrpcCallOptions = {}): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: (): AsyncIterator<unknown> => {
      let deadline: number;
      try {
        deadline = preflight(call, options);
      } catch (error) {
        // surface on the first next(), like any other call failure
        return { next: () => Promise.reject(error) };
      }
      const queue = new AsyncQueue<unknown>();
      const stream = call.client.makeServerStreamRequest(call.path, call.serialize, call.deserialize, request, call.metadata(options.metadata), { deadline });
      let paused = false;
      let settled = false;
      stream.on('data', (item: unknown) => {
        queue.push(item);
        if (!paused && queue.size >= STREAM_HIGH_WATER) {
          paused = true;
          stream.pause();
        }
      });
      stream.on('error', (error: unknown) => queue.fail(callError(error, call.path)));
      stream.on('end', () => queue.end());
      const onAbort = () => {
        queue.fail(new TransportError('CANCELLED', `${call.path}: cancelled`, { cause: options.signal?.reason }));
        stream.cancel();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (completed: boolean) => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        // A consumer that stops early cancels the call, so the server's handler sees its signal abort.
        if (!completed) stream.cancel();
      };
      return {
        next: async (): Promise<IteratorResult<unknown>> => {
          try {
            const next = await queue.next();
            if (next.done) finish(true);
            else if (paused && queue.size < STREAM_HIGH_WATER / 4) {
              paused = false;
              stream.resume();
            }
            return next;
          } catch (error) {
            finish(true);
            throw error;
          }
        },
        return: async (): Promise<IteratorResult<unknown>> => {
          finish(queue.finished);
          queue.end();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
