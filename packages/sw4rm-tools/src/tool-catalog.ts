// SPDX-License-Identifier: Apache-2.0
// ConnectorService (spec §3.14): providers and the descriptors of their tools. RegisterProvider replaces a
// provider's list (durable when given a KvStore); DescribeTools of an unknown provider is an empty list.
import { ValidationError } from '@ecps/core';
import { KvJsonTable, NO_AUTH } from '@ecps/sw4rm';
import type { Authenticator, KvStore } from '@ecps/sw4rm';
import { ToolDescriptor } from '@ecps/sw4rm/proto';
import type { DescribeToolsRequest, DescribeToolsResponse, ProviderRegisterRequest, ProviderRegisterResponse } from '@ecps/sw4rm/proto';

/** Limits on what a provider may declare (memory stays bounded whatever a peer sends). */
export const CATALOG_LIMITS = { providers: 1000, toolsPerProvider: 256, schemaBytes: 64 * 1024 } as const;

/** Providers and their tool descriptors. */
export class ToolCatalog {
  private readonly providers = new Map<string, ToolDescriptor[]>();
  private readonly table: KvJsonTable<unknown[]> | undefined;

  private constructor(private readonly store?: KvStore) {
    this.table = store ? new KvJsonTable(store, 'tools/provider') : undefined;
  }

  /** A catalog with its persisted providers restored. @throws EcpsError IO_ERROR, LOG_CORRUPT. */
  static async open(store?: KvStore): Promise<ToolCatalog> {
    const c = new ToolCatalog(store);
    if (c.table) for (const [id, tools] of await c.table.load()) c.providers.set(id, tools.map((t) => ToolDescriptor.fromJSON(t)));
    return c;
  }

  /** The descriptor of a tool, if registered. */
  find(providerId: string, toolName: string): ToolDescriptor | undefined {
    return this.providers.get(providerId)?.find((t) => t.toolName === toolName);
  }

  /** RegisterProvider: validates every descriptor, then replaces the provider's list (durably). */
  async registerProvider(req: ProviderRegisterRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<ProviderRegisterResponse> {
    if (!req.providerId) return { ok: false, reason: 'validation_error: provider_id is required' };
    auth.authorize(identity, req.providerId, 'register tools');
    const problem = this.problem(req);
    if (problem) return { ok: false, reason: `validation_error: ${problem}` };
    await this.table?.save(req.providerId, req.tools.map((t) => ToolDescriptor.toJSON(t)));
    this.providers.set(req.providerId, req.tools.map((t) => ToolDescriptor.fromPartial(t)));
    return { ok: true, reason: '' };
  }

  async describeTools(req: DescribeToolsRequest): Promise<DescribeToolsResponse> {
    return { tools: [...(this.providers.get(req.providerId) ?? [])] };
  }

  /** Registers descriptors without the RPC checks on identity (the hub's local tools). @throws ValidationError INVALID_ARGUMENT. */
  async registerLocal(providerId: string, tools: ToolDescriptor[]): Promise<void> {
    const r = await this.registerProvider({ providerId, tools });
    if (!r.ok) throw new ValidationError('INVALID_ARGUMENT', r.reason);
  }

  private problem(req: ProviderRegisterRequest): string | undefined {
    if (!this.providers.has(req.providerId) && this.providers.size >= CATALOG_LIMITS.providers) return `at most ${CATALOG_LIMITS.providers} providers`;
    if (req.tools.length > CATALOG_LIMITS.toolsPerProvider) return `at most ${CATALOG_LIMITS.toolsPerProvider} tools per provider`;
    const names = new Set<string>();
    for (const t of req.tools) {
      if (!t.toolName || names.has(t.toolName)) return `tool names must be unique and non-empty (${t.toolName})`;
      names.add(t.toolName);
      for (const [field, schema] of [['input_schema', t.inputSchema], ['output_schema', t.outputSchema]] as const) {
        if (!schema || /^https?:\/\//.test(schema)) continue;
        if (schema.length > CATALOG_LIMITS.schemaBytes) return `${t.toolName}: ${field} over ${CATALOG_LIMITS.schemaBytes} bytes`;
        try {
          const parsed = JSON.parse(schema) as unknown;
          if (typeof parsed !== 'object' || parsed === null) return `${t.toolName}: ${field} is not a JSON Schema object`;
        } catch {
          return `${t.toolName}: ${field} is neither JSON nor a URL`;
        }
      }
    }
    return undefined;
  }
}
