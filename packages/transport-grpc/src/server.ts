// SPDX-License-Identifier: Apache-2.0
// A grpc-js server with the ECPS channel settings, bound on a host and port.
import * as grpc from '@grpc/grpc-js';
import { TransportError } from '@ecps/core';
import { channelOptionsFor, serverCredentials, type GrpcChannelSettings, type GrpcServerTlsOptions } from './channel-options';

export interface GrpcServerOptions extends GrpcChannelSettings {
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port to bind; 0 picks a free one. Default 0. */
  port?: number;
  /** Serve TLS (or mutual TLS); plaintext without it. Use TLS on any network you do not control (spec §9). */
  tls?: GrpcServerTlsOptions;
  /** Registers services (MemoryStore, ext services) before the server starts. */
  register?: (server: grpc.Server) => void;
}

export interface StartedGrpcServer {
  readonly server: grpc.Server;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** `host:port`, ready for a client `target`. */
  readonly address: string;
  /** Stops accepting calls, waits up to `graceMs` (default 2000) for running ones, then cuts the rest. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

/** A grpc-js server carrying the ECPS message-size bound and keepalive settings. */
export function createGrpcServer(settings: GrpcChannelSettings = {}): grpc.Server {
  return new grpc.Server(channelOptionsFor(settings));
}

/**
 * Creates a server, lets `register` add services, and binds it.
 * @throws TransportError `UNAVAILABLE` when the address cannot be bound; ValidationError `CONFIG_INVALID` for bad TLS.
 */
export async function startGrpcServer(options: GrpcServerOptions = {}): Promise<StartedGrpcServer> {
  const server = createGrpcServer(options);
  options.register?.(server);
  return bindGrpcServer(server, options);
}

/** Binds an existing server (see {@link createGrpcServer}). */
export async function bindGrpcServer(server: grpc.Server, options: Pick<GrpcServerOptions, 'host' | 'port' | 'tls'> = {}): Promise<StartedGrpcServer> {
  const host = options.host ?? '127.0.0.1';
  const credentials = serverCredentials(options.tls);
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 0}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(hostPort, credentials, (error, bound) =>
      error ? reject(new TransportError('UNAVAILABLE', `cannot bind ${hostPort}: ${error.message}`, { cause: error })) : resolve(bound),
    ),
  );
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: (graceMs = 2000) =>
      (closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      })),
  };
}
