// SPDX-License-Identifier: Apache-2.0
// The shapes the Peat collections hold (node configurations, node states, capabilities, operators) and the
// tables every echelon scores them with (spec §0). Shared by the cell, composition, hierarchy and deployment
// packages so none of them depends on another just for a type.

/** Capability types (stored as integers). */
export const CapabilityType = { UNSPECIFIED: 0, SENSOR: 1, COMPUTE: 2, COMMUNICATION: 3, MOBILITY: 4, PAYLOAD: 5, EMERGENT: 6 } as const;
export type CapabilityTypeValue = (typeof CapabilityType)[keyof typeof CapabilityType];

const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(CapabilityType).map(([k, v]) => [v, k]));

/** `SENSOR`, `COMPUTE`, ... (`UNSPECIFIED` for an unknown number). */
export function capabilityTypeName(type: number): string {
  return TYPE_NAMES[type] ?? 'UNSPECIFIED';
}

/** The type named `name` (case-insensitive), or undefined. */
export function capabilityTypeFromName(name: string): CapabilityTypeValue | undefined {
  const v = (CapabilityType as Record<string, CapabilityTypeValue>)[name.toUpperCase()];
  return v;
}

/** Health, higher is worse. */
export const Health = { UNSPECIFIED: 0, NOMINAL: 1, DEGRADED: 2, CRITICAL: 3, FAILED: 4 } as const;
export type HealthValue = (typeof Health)[keyof typeof Health];

/** The health score used by elections, roles and readiness. */
export function healthScore(health: number): number {
  switch (health) {
    case Health.NOMINAL:
      return 1;
    case Health.DEGRADED:
      return 0.6;
    case Health.CRITICAL:
      return 0.3;
    case Health.FAILED:
      return 0;
    default:
      return 0.5;
  }
}

/** Node phases (stored as integers in `node_states.phase`). */
export const Phase = { UNSPECIFIED: 0, DISCOVERY: 1, CELL: 2, HIERARCHY: 3 } as const;
export type PhaseValue = (typeof Phase)[keyof typeof Phase];

/** Echelons. */
export const HierarchyLevel = { Platform: 0, Squad: 1, Platoon: 2, Company: 3 } as const;
export type HierarchyLevelValue = (typeof HierarchyLevel)[keyof typeof HierarchyLevel];

export type AuthorityLevel = 'Unspecified' | 'Observer' | 'Advisor' | 'Supervisor' | 'Commander';

/** Authority levels in increasing order. */
export const AUTHORITY_LEVELS: readonly AuthorityLevel[] = ['Unspecified', 'Observer', 'Advisor', 'Supervisor', 'Commander'];

const AUTHORITY_SCORE: Readonly<Record<AuthorityLevel, number>> = { Unspecified: 0, Observer: 0.1, Advisor: 0.3, Supervisor: 0.5, Commander: 0.8 };

/** The authority level named `level` (case-insensitive); `Unspecified` for anything else. */
export function authorityLevel(level: string | undefined): AuthorityLevel {
  const l = (level ?? '').toLowerCase();
  return AUTHORITY_LEVELS.find((a) => a.toLowerCase() === l) ?? 'Unspecified';
}

export function authorityScore(level: string | undefined): number {
  return AUTHORITY_SCORE[authorityLevel(level)];
}

/** 0 (Unspecified) .. 4 (Commander). */
export function authorityRank(level: string | undefined): number {
  return AUTHORITY_LEVELS.indexOf(authorityLevel(level));
}

/** Supervisor and Commander may override. */
export function canOverride(level: string | undefined): boolean {
  return authorityRank(level) >= authorityRank('Supervisor');
}

/** Military ranks and their scores. */
export const RANK_SCORES: Readonly<Record<string, number>> = {
  E1: 0.1, E2: 0.15, E3: 0.2, E4: 0.3, E5: 0.4, E6: 0.5, E7: 0.6, E8: 0.7, E9: 0.8,
  W1: 0.7, W2: 0.75, W3: 0.8, W4: 0.85, W5: 0.9,
  O1: 0.85, O2: 0.9, O3: 0.95, O4: 0.97, O5: 0.98, O6: 0.99, O7: 0.995, O8: 0.997, O9: 0.999, O10: 1,
};

/** The score of `rank` (0 for an unknown rank). */
export function rankScore(rank: string | undefined): number {
  return RANK_SCORES[(rank ?? '').toUpperCase()] ?? 0;
}

/** A capability a node (or a composition) advertises. */
export interface Capability {
  readonly id: string;
  readonly name: string;
  readonly capability_type: number;
  /** In [0, 1]. */
  readonly confidence: number;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly registered_at: number;
}

export interface Position {
  readonly latitude: number;
  readonly longitude: number;
  readonly altitude: number;
}

/** What a node publishes about itself (`node_states:<node_id>`). */
export interface NodeState {
  readonly position: Position;
  readonly fuel_minutes: number;
  readonly health: number;
  readonly phase: number;
  readonly cell_id: string | null;
  readonly zone_id: string | null;
  /** Unix ms. */
  readonly timestamp: number;
}

/** A human bound to a platform. */
export interface Operator {
  readonly id: string;
  readonly rank: string;
  readonly authority_level: string;
  readonly mos: string;
  /** In [0, 1]. */
  readonly cognitive_load: number;
  readonly fatigue: number;
  readonly effectiveness: number;
}

/** Operators bound to platforms (a human–machine pair). */
export interface OperatorBinding {
  readonly operators: readonly Operator[];
  readonly platform_ids: readonly string[];
  readonly binding_type: string;
  readonly bound_at: number;
}

/** A node's static description (`node_configs:<node_id>`). */
export interface NodeConfig {
  readonly id: string;
  readonly platform_type: string;
  readonly capabilities: readonly Capability[];
  readonly comm_range_m: number;
  readonly max_speed_mps: number;
  readonly operator_binding: OperatorBinding | null;
  readonly created_at: number;
}

/** Operational: not FAILED and with fuel left. */
export function isOperational(state: Pick<NodeState, 'health' | 'fuel_minutes'>): boolean {
  return state.health !== Health.FAILED && state.fuel_minutes > 0;
}

/** Below 30 minutes of fuel. */
export function needsRefuel(state: Pick<NodeState, 'fuel_minutes'>): boolean {
  return state.fuel_minutes < 30;
}

/** The highest authority among a node's bound operators (`Unspecified` without any). */
export function maxAuthority(config: Pick<NodeConfig, 'operator_binding'>): AuthorityLevel {
  let best: AuthorityLevel = 'Unspecified';
  for (const op of config.operator_binding?.operators ?? []) {
    const a = authorityLevel(op.authority_level);
    if (authorityRank(a) > authorityRank(best)) best = a;
  }
  return best;
}

/** Whether any operator is bound. */
export function hasOperator(config: Pick<NodeConfig, 'operator_binding'>): boolean {
  return (config.operator_binding?.operators.length ?? 0) > 0;
}
