// SPDX-License-Identifier: Apache-2.0
// Serving ToolService and ConnectorService (+ health).
import { hostServices } from '@ecps/sw4rm';
import type { CallContext, Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { ConnectorServiceService, ToolServiceService } from '@ecps/sw4rm/proto';
import { ToolDescriptor } from '@ecps/sw4rm/proto';
import { LocalTools } from './local-tools';
import type { LocalToolSpec } from './local-tools';
import { ToolCatalog } from './tool-catalog';
import { ToolService } from './tool-service';
import type { ToolServiceOptions } from './tool-service';

/** Adds ToolService and ConnectorService to `server`. */
export function addToolServices(server: Sw4rmServer, s: { tools: ToolService; catalog: ToolCatalog }): void {
  server.addService('sw4rm.tool.ToolService', ToolServiceService, s.tools.grpcImplementation(server.auth));
  server.addUnaryService('sw4rm.connector.ConnectorService', ConnectorServiceService, {
    registerProvider: (q: never, c: CallContext) => s.catalog.registerProvider(q, c.identity, c.auth),
    describeTools: (q: never) => s.catalog.describeTools(q),
  });
}

/** Options of {@link startTools}. */
export interface StartToolsOptions extends Omit<ToolServiceOptions, 'catalog' | 'local'>, HostingOptions {
  /** The local tools (executables). */
  tools?: readonly LocalToolSpec[] | LocalTools;
  store?: ToolCatalogStore;
}

type ToolCatalogStore = Parameters<typeof ToolCatalog.open>[0];

/** Running tool services. */
export interface RunningTools extends Hosted {
  tools: ToolService;
  catalog: ToolCatalog;
  local: LocalTools;
}

/** Starts ToolService and ConnectorService; the local tools are registered under the local provider id. */
export async function startTools(options: StartToolsOptions = {}): Promise<RunningTools> {
  const { tools: specs, store, ...rest } = options;
  const local = specs instanceof LocalTools ? specs : new LocalTools(specs ?? []);
  const catalog = await ToolCatalog.open(store);
  await catalog.registerLocal(rest.localProviderId ?? 'local', local.descriptors().map((d) => ToolDescriptor.fromPartial(d)));
  const tools = new ToolService({ ...rest, catalog, local });
  return { tools, catalog, local, ...(await hostServices(options, 50053, (s: Sw4rmServer) => addToolServices(s, { tools, catalog }))) };
}
