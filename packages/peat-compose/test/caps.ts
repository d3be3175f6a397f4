// SPDX-License-Identifier: Apache-2.0
// Small builders for capabilities and node configurations in tests.
import type { Capability, NodeConfig, Operator } from '@ecps/peat';

let seq = 0;
export function cap(capability_type: number, confidence: number, metadata: Record<string, unknown> = {}, id = `cap-${++seq}`): Capability {
  return { id, name: id, capability_type, confidence, metadata, registered_at: 0 };
}

export function operator(authority_level: string, rank = 'E6', extra: Partial<Operator> = {}): Operator {
  return { id: `op-${++seq}`, rank, authority_level, mos: '11B', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9, ...extra };
}

export function config(id: string, capabilities: Capability[], operators: Operator[] = []): NodeConfig {
  return {
    id,
    platform_type: 'ugv',
    capabilities,
    comm_range_m: 1000,
    max_speed_mps: 10,
    operator_binding: operators.length ? { operators, platform_ids: [id], binding_type: 'direct', bound_at: 0 } : null,
    created_at: 0,
  };
}
