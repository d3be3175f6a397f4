// SPDX-License-Identifier: Apache-2.0
// Scope matching (spec §7), evaluated by each node for itself and by the issuer to count targets.
import { isDeepStrictEqual } from 'node:util';
import { capabilityTypeFromName } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import type { DeploymentScope } from './directive';

/** What scope matching needs to know about a node. */
export interface NodeProfile {
  readonly node_id: string;
  /** The mesh (formation) id, cell, zone and company this node is in. */
  readonly formation_ids: { readonly mesh: string | null; readonly cell: string | null; readonly zone: string | null; readonly company: string | null };
  /** Free resources. */
  readonly resources: { readonly gpu_memory_mb: number; readonly memory_mb: number; readonly storage_mb: number };
  readonly capabilities: readonly Pick<Capability, 'id' | 'name' | 'capability_type'>[];
  readonly attributes: Readonly<Record<string, unknown>>;
}

/**
 * Whether `node` is in `scope`: broadcast always; formation when the id is the node's mesh, cell, zone or
 * company; nodes by id; capability when every minimum fits the free resources, every required capability names one
 * of the node's capability ids or names or a capability type (case-insensitive), and every custom attribute
 * deep-equals the node's (or, for an array, equals one of its elements).
 */
export function matchesScope(scope: DeploymentScope, node: NodeProfile): boolean {
  switch (scope.type) {
    case 'broadcast':
      return true;
    case 'formation': {
      const f = node.formation_ids;
      return [f.mesh, f.cell, f.zone, f.company].includes(scope.formation_id);
    }
    case 'nodes':
      return scope.node_ids.includes(node.node_id);
    case 'capability': {
      const r = node.resources;
      if (scope.min_gpu_memory_mb !== null && scope.min_gpu_memory_mb > r.gpu_memory_mb) return false;
      if (scope.min_memory_mb !== null && scope.min_memory_mb > r.memory_mb) return false;
      if (scope.min_storage_mb !== null && scope.min_storage_mb > r.storage_mb) return false;
      for (const req of scope.required_capabilities) {
        const type = capabilityTypeFromName(req);
        const has = node.capabilities.some((c) => c.id === req || c.name === req || (type !== undefined && c.capability_type === type));
        if (!has) return false;
      }
      for (const [k, want] of Object.entries(scope.custom)) {
        const got = node.attributes[k];
        const ok = Array.isArray(want) ? isDeepStrictEqual(got, want) || want.some((w) => isDeepStrictEqual(got, w)) : isDeepStrictEqual(got, want);
        if (!ok) return false;
      }
      return true;
    }
  }
}
