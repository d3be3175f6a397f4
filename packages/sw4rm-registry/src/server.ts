// SPDX-License-Identifier: Apache-2.0
// Serving the registry on gRPC (+ health).
import { Sw4rmServer, adaptUnary } from '@ecps/sw4rm';
import { RegistryServiceService } from '@ecps/sw4rm/proto';
import type { RegistryOptions } from './registry';
import { Registry } from './registry';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions extends RegistryOptions {
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
  server.addService(
    'sw4rm.registry.RegistryService',
    RegistryServiceService,
    adaptUnary({
      registerAgent: (r: never) => registry.registerAgent(r),
      heartbeat: (r: never) => registry.heartbeat(r),
      deregisterAgent: (r: never) => registry.deregisterAgent(r),
    }),
  );
}

/** Starts a registry on `host:port`. @throws EcpsError IO_ERROR when the port cannot be bound. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const { host = '127.0.0.1', port = 50052, server: shared, ...rest } = options;
  const registry = new Registry(rest);
  const server = shared ?? new Sw4rmServer();
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
