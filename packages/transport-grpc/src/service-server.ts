// SPDX-License-Identifier: Apache-2.0
// Registers a ts-proto generic service definition (`{ fullName, methods }`) on a grpc-js server at
// `/<fullName>/<Method>`: unary and server-streaming methods, cancellation as an AbortSignal, handler errors as
// gRPC statuses with the exact ECPS code in the trailers.
import type * as grpc from '@grpc/grpc-js';
import { ValidationError } from '@ecps/core';
import { toServiceError } from './status';

/** The encode/decode half of a ts-proto message type. */
export interface ProtoMessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** One method of a ts-proto `generic-definitions` service. */
export interface GenericMethodDefinition<Req = unknown, Res = unknown> {
  readonly name: string;
  readonly requestType: ProtoMessageType<Req>;
  readonly responseType: ProtoMessageType<Res>;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** A ts-proto `generic-definitions` service, e.g. `MemoryStoreDefinition` or `MepReplicationDefinition`. */
export interface GenericServiceDefinition {
  readonly name: string;
  /** Protobuf package + service, e.g. `ecps.ext.v1.MepReplication`. */
  readonly fullName: string;
  readonly methods: Readonly<Record<string, GenericMethodDefinition<any, any>>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** What a handler learns about its call. */
export interface CallContext {
  /** Aborts when the client cancels, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  readonly metadata: grpc.Metadata;
  /** W3C trace context sent by the client as request metadata (spec §9). */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** The caller's address as grpc-js reports it. */
  readonly peer: string;
}

type RequestOf<M> = M extends GenericMethodDefinition<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends GenericMethodDefinition<unknown, infer Res> ? Res : never;

/** Handlers for every method of a service: unary methods return a value, server-streaming ones an async iterable. */
export type ServiceImplementation<D extends GenericServiceDefinition> = {
  [K in keyof D['methods']]: D['methods'][K] extends { readonly responseStream: true }
    ? (request: RequestOf<D['methods'][K]>, context: CallContext) => AsyncIterable<ResponseOf<D['methods'][K]>>
    : (request: RequestOf<D['methods'][K]>, context: CallContext) => Promise<ResponseOf<D['methods'][K]>> | ResponseOf<D['methods'][K]>;
};

/** The gRPC path of a method: `/<package>.<Service>/<Method>`. */
export function methodPath(definition: GenericServiceDefinition, method: GenericMethodDefinition): string {
  return `/${definition.fullName}/${method.name}`;
}

const identity = (value: Buffer): Buffer => value;

/**
 * Adds `implementation` for `definition` to a grpc-js server (see `createGrpcServer`).
 * Requests that fail to decode are answered with INVALID_ARGUMENT (`DECODE_ERROR`); a handler's EcpsError maps to
 * its status family (validation -> INVALID_ARGUMENT, size -> RESOURCE_EXHAUSTED, ...), anything else to UNKNOWN.
 * @throws ValidationError `UNSUPPORTED` for client-streaming or bidirectional methods.
 */
export function addEcpsService<D extends GenericServiceDefinition>(server: grpc.Server, definition: D, implementation: ServiceImplementation<D>): void {
  const service: Record<string, grpc.MethodDefinition<Buffer, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    if (method.requestStream) {
      throw new ValidationError('UNSUPPORTED', `${methodPath(definition, method)}: client streaming is not supported by addEcpsService`);
    }
    service[key] = {
      path: methodPath(definition, method),
      requestStream: false,
      responseStream: method.responseStream,
      // Decoding happens in the handler so that a malformed request becomes INVALID_ARGUMENT, not INTERNAL.
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: (value: unknown) => {
        const bytes = method.responseType.encode(value).finish();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
      },
      responseDeserialize: (value: Buffer) => method.responseType.decode(value),
      originalName: key,
    };
    const impl = (implementation as Record<string, (request: unknown, context: CallContext) => unknown>)[key];
    if (typeof impl !== 'function') throw new ValidationError('INVALID_ARGUMENT', `no handler for ${methodPath(definition, method)}`);
    const decode = (bytes: Buffer) => {
      try {
        return method.requestType.decode(bytes);
      } catch (error) {
        throw new ValidationError('DECODE_ERROR', `malformed request: ${(error as Error).message}`, { cause: error });
      }
    };
    handlers[key] = method.responseStream
      ? serverStreamingHandler(decode, impl as (request: unknown, context: CallContext) => AsyncIterable<unknown>)
      : unaryHandler(decode, impl as (request: unknown, context: CallContext) => unknown);
  }
  server.addService(service, handlers);
}

/**
 * The context of one call, built lazily: most handlers read none of it, and an AbortController (with its error on
 * cancel) and metadata lookups per call are measurable at tens of thousands of calls per second.
 */
class LazyCallContext implements CallContext {
  /** Read at once: once the stream closed, grpc-js no longer knows it. */
  readonly peer: string;
  private abort: AbortController | undefined;
  constructor(private readonly call: grpc.ServerUnaryCall<Buffer, unknown> | grpc.ServerWritableStream<Buffer, unknown>) {
    this.peer = call.getPeer();
  }

  get signal(): AbortSignal {
    if (!this.abort) {
      const abort = new AbortController();
      this.abort = abort;
      if (this.call.cancelled) abort.abort(new Error('call cancelled'));
      else this.call.once('cancelled', () => abort.abort(new Error('call cancelled')));
    }
    return this.abort.signal;
  }

  get metadata(): grpc.Metadata {
    return this.call.metadata;
  }

  get traceparent(): string | undefined {
    return this.first('traceparent');
  }

  get tracestate(): string | undefined {
    return this.first('tracestate');
  }

  private first(key: string): string | undefined {
    const value = this.call.metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  }
}

function unaryHandler(decode: (bytes: Buffer) => unknown, impl: (request: unknown, context: CallContext) => unknown): grpc.handleUnaryCall<Buffer, unknown> {
  return (call, callback) => {
    const fail = (error: unknown) => callback(toServiceError(error));
    let result: unknown;
    try {
      result = impl(decode(call.request), new LazyCallContext(call));
    } catch (error) {
      fail(error);
      return;
    }
    // a handler that answers synchronously is answered without a promise hop
    if (result instanceof Promise) result.then((response) => callback(null, response), fail);
    else callback(null, result);
  };
}

function serverStreamingHandler(
  decode: (bytes: Buffer) => unknown,
  impl: (request: unknown, context: CallContext) => AsyncIterable<unknown>,
): grpc.handleServerStreamingCall<Buffer, unknown> {
  return (call) => {
    const context = new LazyCallContext(call);
    const signal = context.signal;
    void (async () => {
      try {
        for await (const item of impl(decode(call.request), context)) {
          if (signal.aborted) break;
          // Respect HTTP/2 flow control: wait for the buffer to drain instead of queueing without bound.
          if (!call.write(item)) await drained(call, signal);
        }
        if (!signal.aborted) call.end();
      } catch (error) {
        if (!signal.aborted) call.emit('error', toServiceError(error));
      }
    })();
  };
}

function drained(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    stream.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
