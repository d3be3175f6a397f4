// SPDX-License-Identifier: Apache-2.0
// Serving the registry on gRPC (+ health); callers act only for themselves when the server identifies them.
import { Sw4rmServer } from '@ecps/sw4rm';
import type { CallContext, Sw4rmServerOptions } from '@ecps/sw4rm';
import { RegistryServiceService } from '@ecps/sw4rm/proto';
import type { RegistryOptions } from './registry';
import { Registry } from './registry';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions extends RegistryOptions, Sw4rmServerOptions {
  host?: string;
  /** 0 = ephemeral; default 50052. */
  port?: number;
  /** Host on an existing server (the caller binds it). */
  server?: Sw4rmServer;
}

/** A running registry. */
export interface RunningRegistry {
  registry: Registry;
  server: Sw4rmServer;
  port: number;
  stop(): Promise<void>;
}

/** Adds RegistryService to a server. */
export function addRegistryService(server: Sw4rmServer, registry: Registry): void {
  server.addUnaryService('sw4rm.registry.RegistryService', RegistryServiceService, {
    registerAgent: (r: never, c: CallContext) => registry.registerAgent(r, c.identity, c.auth),
    heartbeat: (r: never, c: CallContext) => registry.heartbeat(r, c.identity, c.auth),
    deregisterAgent: (r: never, c: CallContext) => registry.deregisterAgent(r, c.identity, c.auth),
  });
}

/** Starts a registry on `host:port`. @throws EcpsError IO_ERROR when the port cannot be bound or the store read. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const { host = '127.0.0.1', port = 50052, server: shared, tls, auth, ...rest } = options;
  const registry = await Registry.open(rest);
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  addRegistryService(server, registry);
  const bound = shared ? shared.port : await server.bind(host, port);
  return {
    registry,
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      registry.close();
      if (!shared) await server.shutdown(1000);
    },
  };
}
