// SPDX-License-Identifier: Apache-2.0
// Hosting helper for our services: one grpc-js server, grpc.health.v1.Health (Check), bind, graceful shutdown.
import type { ServiceDefinition, UntypedServiceImplementation, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { Server, status as Status } from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { EcpsError } from '@ecps/core';
import type { AuthOptions, Authenticator, ServerTlsOptions } from './security';
import { NO_AUTH, createAuthenticator, serverCredentials } from './security';

const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

const HealthService: ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: { service: string }) => Buffer.from((v.service ? new BinaryWriter().uint32(10).string(v.service) : new BinaryWriter()).finish()),
    requestDeserialize: (b: Buffer) => {
      const r = new BinaryReader(b);
      let service = '';
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag >>> 3 === 1) service = r.string();
        else r.skip(tag & 7);
      }
      // an object, never a bare string: grpc-js treats a falsy request ('' for the server's overall health) as missing
      return { service };
    },
    responseSerialize: (v: { status: number }) => Buffer.from(new BinaryWriter().uint32(8).int32(v.status).finish()),
    responseDeserialize: (b: Buffer) => {
      const r = new BinaryReader(b);
      let st = 0;
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag >>> 3 === 1) st = r.int32();
        else r.skip(tag & 7);
      }
      return { status: st };
    },
  },
};

/** The grpc.health.v1 Check definition (request `{service}`, response `{status}`; 1 = SERVING). */
export const HEALTH_SERVICE = HealthService;

/** Options of {@link Sw4rmServer}. */
export interface Sw4rmServerOptions {
  /** TLS (mutual TLS with `ca`); insecure without. */
  tls?: ServerTlsOptions;
  /** Caller identification; off by default (identity fields are then claims, as in the reference). */
  auth?: AuthOptions | Authenticator;
}

/** A gRPC server hosting any of our services plus health. */
export class Sw4rmServer {
  readonly grpc = new Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  /** Identifies callers of every service on this server. */
  readonly auth: Authenticator;
  private readonly names = new Set<string>(['']);
  private serving = true;
  private boundPort = 0;

  constructor(private readonly options: Sw4rmServerOptions = {}) {
    const auth = options.auth;
    this.auth = !auth ? NO_AUTH : 'identify' in auth ? auth : createAuthenticator(auth);
    if (this.auth.enabled && options.auth && !('identify' in options.auth) && options.auth.certificates && !options.tls?.ca) {
      throw new EcpsError('CONFIG_INVALID', 'identifying callers by certificate needs mutual TLS (tls.ca)');
    }
    this.grpc.addService(HealthService, {
      Check: (call: ServerUnaryCall<{ service: string }, { status: number }>, cb: sendUnaryData<{ status: number }>) => {
        if (!this.names.has(call.request.service)) return cb({ code: Status.NOT_FOUND, details: 'unknown service' } as never, null);
        cb(null, { status: this.serving ? SERVING : NOT_SERVING });
      },
    });
  }

  /** Adds a service under its full name (e.g. `sw4rm.router.RouterService`). */
  addService(fullName: string, definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.grpc.addService(definition, implementation);
    this.names.add(fullName);
  }

  /** Adds a service of promise-returning handlers, each called with the caller's identity (see {@link adaptUnary}). */
  addUnaryService(fullName: string, definition: ServiceDefinition, implementation: AsyncUnaryImpl): void {
    this.addService(fullName, definition, adaptUnary(implementation, this.auth));
  }

  /** Health answers NOT_SERVING from now on (drain). */
  setServing(serving: boolean): void {
    this.serving = serving;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Binds `host:port` (port 0 = ephemeral) and returns the port. @throws EcpsError IO_ERROR when binding fails. */
  bind(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.grpc.bindAsync(`${host}:${port}`, serverCredentials(this.options.tls), (err, actual) => {
        if (err) return reject(new EcpsError('IO_ERROR', `cannot bind ${host}:${port}: ${err.message}`, { cause: err }));
        this.boundPort = actual;
        resolve(actual);
      });
    });
  }

  /** Graceful shutdown, forced after `graceMs`. */
  async shutdown(graceMs = 5000): Promise<void> {
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, graceMs);
      this.grpc.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

/** Health status names for tests and CLIs. */
export const HEALTH_STATUS = { SERVING, NOT_SERVING, SERVICE_UNKNOWN } as const;

/** What a handler knows about its caller. */
export interface CallContext {
  /** The proven identity, or undefined when authentication is off. */
  identity: string | undefined;
  /** The server's authenticator (for `authorize`). */
  auth: Authenticator;
}

/** A promise-based unary implementation: one async function per method (camelCase keys, as generated). */
export type AsyncUnaryImpl = Record<string, (request: never, context: CallContext) => Promise<unknown>>;

const statusByEcpsCode: Record<string, Status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  CONFLICT: Status.FAILED_PRECONDITION,
  TIMEOUT: Status.DEADLINE_EXCEEDED,
  UNAVAILABLE: Status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  QUEUE_FULL: Status.RESOURCE_EXHAUSTED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  UNSUPPORTED: Status.UNIMPLEMENTED,
  CANCELLED: Status.CANCELLED,
};

/** The gRPC status for a thrown error: EcpsError codes map by meaning, anything else is INTERNAL. */
export function grpcStatusOf(err: unknown): Status {
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && statusByEcpsCode[code]) || Status.INTERNAL;
}

/**
 * Adapts promise-returning handlers to grpc-js callbacks: the caller is identified first (UNAUTHENTICATED when
 * `auth` is on and the call proves nothing), thrown errors become gRPC statuses.
 */
export function adaptUnary(impl: AsyncUnaryImpl, auth: Authenticator = NO_AUTH): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
      auth
        .identify(call)
        .then((identity) => fn(call.request as never, { identity, auth }))
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb({ code: grpcStatusOf(err), details: err instanceof Error ? err.message : String(err) } as never, null),
        );
    };
  }
  return out;
}

/** Where a service is served: its own server on `host:port`, or a shared one the caller binds. */
export interface HostingOptions extends Sw4rmServerOptions {
  host?: string;
  /** 0 = ephemeral. */
  port?: number;
  /** Host on an existing server (the caller binds it and owns its shutdown). */
  server?: Sw4rmServer;
}

/** A service being served. */
export interface Hosted {
  server: Sw4rmServer;
  port: number;
  /** Health NOT_SERVING, `cleanup`, then (own server only) shutdown. */
  stop(): Promise<void>;
}

/**
 * Registers services on a server (a new one with `tls`/`auth`, or `options.server`) and binds it when it is ours.
 * @throws EcpsError IO_ERROR when the port cannot be bound (after running `cleanup`).
 */
export async function hostServices(options: HostingOptions, defaultPort: number, register: (server: Sw4rmServer) => void, cleanup: () => void | Promise<void> = () => undefined): Promise<Hosted> {
  const { host = '127.0.0.1', port = defaultPort, server: shared, tls, auth } = options;
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  register(server);
  let bound: number;
  try {
    bound = shared ? shared.port : await server.bind(host, port);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      await cleanup();
      if (!shared) await server.shutdown(1000);
    },
  };
}
