// SPDX-License-Identifier: Apache-2.0
// Builders for capabilities, operators, configurations and beacons in tests.
import type { Capability, NodeConfig, Operator } from '@ecps/peat';
import type { Beacon } from '../src/index';
import { geohashOf } from '../src/index';

let seq = 0;
export function cap(capability_type: number, confidence: number, id = `cap-${++seq}`): Capability {
  return { id, name: id, capability_type, confidence, metadata: {}, registered_at: 0 };
}

export function operator(extra: Partial<Operator> = {}): Operator {
  return { id: `op-${++seq}`, rank: 'E6', authority_level: 'Supervisor', mos: '11B', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9, ...extra };
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

export function beacon(platform_id: string, lat: number, lon: number, timestamp: number): Beacon {
  return {
    platform_id,
    position: { lat, lon, alt: 0 },
    geohash_cell: geohashOf({ latitude: lat, longitude: lon }),
    operational: true,
    timestamp,
    capabilities: [],
    hierarchy_level: 0,
    mobility: 'Mobile',
    resources: { cpu_usage_percent: 10, memory_usage_percent: 10, battery_percent: null },
    can_parent: true,
    parent_priority: 128,
  };
}
