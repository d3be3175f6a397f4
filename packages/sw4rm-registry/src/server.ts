// SPDX-License-Identifier: Apache-2.0
// Serving the registry on gRPC (+ health); callers act only for themselves when the server identifies them.
import { hostServices } from '@ecps/sw4rm';
import type { CallContext, Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { RegistryServiceService } from '@ecps/sw4rm/proto';
import type { RegistryOptions } from './registry';
import { Registry } from './registry';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions extends RegistryOptions, HostingOptions {}

/** A running registry. */
export interface RunningRegistry extends Hosted {
  registry: Registry;
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
  const registry = await Registry.open(options);
  return { registry, ...(await hostServices(options, 50052, (s: Sw4rmServer) => addRegistryService(s, registry), () => registry.close())) };
}
