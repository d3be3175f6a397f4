// SPDX-License-Identifier: Apache-2.0
// Capability aggregation inside a cell (spec §3.4): per capability type, the operational members' confidences are
// averaged, raised for redundancy and for the authority of a bound operator, and, where a human must oversee the
// capability (payloads; communications without a supervisor), discounted until one does. Readiness weighs the
// types; gaps are the required types that are missing or not mission-ready.
import { silentLogger } from '@ecps/core';
import type { Logger } from '@ecps/core';
import { AUTHORITY_LEVELS, CapabilityType, authorityRank, capabilityTypeName, isOperational, maxAuthority } from '@ecps/peat';
import type { AuthorityLevel, Capability, NodeConfig, NodeState } from '@ecps/peat';

/** One cell member as aggregation sees it. */
export interface AggregationMember {
  readonly node_id: string;
  readonly config: Pick<NodeConfig, 'capabilities' | 'operator_binding'>;
  readonly state: Pick<NodeState, 'health' | 'fuel_minutes'>;
}

/** The aggregate of one capability type. */
export interface TypeAggregate {
  readonly capability_type: number;
  /** Members that contributed (each with its best capability of the type), sorted. */
  readonly contributors: readonly string[];
  readonly avg: number;
  /** `min(1, avg + redundancy bonus + authority bonus)`. */
  readonly confidence: number;
  readonly max_authority: AuthorityLevel;
  readonly requires_oversight: boolean;
  /** `confidence` discounted by the oversight penalty when oversight is required. */
  readonly effective_confidence: number;
  readonly is_mission_ready: boolean;
}

export interface CellAggregation {
  /** By type, ascending. */
  readonly types: readonly TypeAggregate[];
  /** Weighted mean of the effective confidences over the types present; 0 with none. */
  readonly readiness: number;
  /** Required types that are missing or not mission-ready, ascending. */
  readonly gaps: readonly number[];
  /** Types whose aggregate requires human oversight. */
  readonly oversight_required: readonly number[];
  /** e.g. `mean;redundancy;authority;oversight=on`. */
  readonly method: string;
}

export interface AggregationOptions {
  /** Default COMMUNICATION and SENSOR. */
  readonly requiredTypes?: readonly number[];
  /**
   * `disabled` turns every oversight requirement off (labs only): logged at WARN and recorded in `method`.
   * Default `on`.
   */
  readonly oversight?: 'on' | 'disabled';
  readonly logger?: Logger;
}

/** Readiness weight of a capability type. */
export function readinessWeight(type: number): number {
  switch (type) {
    case CapabilityType.COMMUNICATION:
      return 0.3;
    case CapabilityType.SENSOR:
      return 0.25;
    case CapabilityType.COMPUTE:
      return 0.2;
    case CapabilityType.PAYLOAD:
      return 0.15;
    case CapabilityType.MOBILITY:
      return 0.1;
    default:
      return 0.05;
  }
}

/** The redundancy bonus for `n` contributors: 0, 0.05, 0.10 (3–4), 0.15 (≥ 5). */
export function redundancyBonus(n: number): number {
  if (n >= 5) return 0.15;
  if (n >= 3) return 0.1;
  if (n === 2) return 0.05;
  return 0;
}

/** The authority bonus: Commander 0.10, Supervisor 0.05, Advisor 0.03, otherwise 0. */
export function authorityBonus(level: AuthorityLevel): number {
  return level === 'Commander' ? 0.1 : level === 'Supervisor' ? 0.05 : level === 'Advisor' ? 0.03 : 0;
}

/** The oversight penalty: Commander 1.0, Supervisor 0.85, Advisor 0.7, Observer 0.6, none 0.5. */
export function oversightPenalty(level: AuthorityLevel): number {
  return { Commander: 1, Supervisor: 0.85, Advisor: 0.7, Observer: 0.6, Unspecified: 0.5 }[level];
}

/** Whether a capability type needs a human watching it, given the highest authority present. */
export function requiresOversight(type: number, authority: AuthorityLevel): boolean {
  if (type === CapabilityType.PAYLOAD) return authority !== 'Commander';
  if (type === CapabilityType.COMMUNICATION) return authorityRank(authority) <= authorityRank('Observer');
  return false;
}

const DEFAULT_REQUIRED: readonly number[] = [CapabilityType.COMMUNICATION, CapabilityType.SENSOR];

/** Aggregates the operational members' capabilities by type (non-operational members are left out). */
export function aggregateCell(members: readonly AggregationMember[], options: AggregationOptions = {}): CellAggregation {
  const oversightOn = options.oversight !== 'disabled';
  if (!oversightOn) (options.logger ?? silentLogger).warn('peat aggregation: human oversight is disabled (lab setting)');
  // each operational member contributes its best capability of each type
  const byType = new Map<number, { node: string; confidence: number; authority: AuthorityLevel }[]>();
  for (const m of members) {
    if (!isOperational(m.state)) continue;
    const best = new Map<number, number>();
    for (const c of m.config.capabilities) best.set(c.capability_type, Math.max(best.get(c.capability_type) ?? 0, c.confidence));
    const authority = maxAuthority(m.config);
    for (const [type, confidence] of best) {
      const list = byType.get(type) ?? [];
      list.push({ node: m.node_id, confidence, authority });
      byType.set(type, list);
    }
  }
  const types: TypeAggregate[] = [];
  for (const [type, list] of [...byType].sort((a, b) => a[0] - b[0])) {
    const avg = list.reduce((s, x) => s + x.confidence, 0) / list.length;
    const authority = list.reduce<AuthorityLevel>((best, x) => (authorityRank(x.authority) > authorityRank(best) ? x.authority : best), AUTHORITY_LEVELS[0]!);
    const base = Math.min(1, avg + redundancyBonus(list.length));
    const confidence = Math.min(1, base + authorityBonus(authority));
    const oversight = oversightOn && requiresOversight(type, authority);
    const effective = oversight ? confidence * oversightPenalty(authority) : confidence;
    types.push({
      capability_type: type,
      contributors: list.map((x) => x.node).sort(),
      avg,
      confidence,
      max_authority: authority,
      requires_oversight: oversight,
      effective_confidence: effective,
      is_mission_ready: confidence >= (oversight ? 0.8 : 0.7) && list.length >= 1 && (!oversight || authority !== 'Unspecified'),
    });
  }
  const weight = types.reduce((s, t) => s + readinessWeight(t.capability_type), 0);
  const readiness = weight > 0 ? types.reduce((s, t) => s + readinessWeight(t.capability_type) * t.effective_confidence, 0) / weight : 0;
  const required = options.requiredTypes ?? DEFAULT_REQUIRED;
  const gaps = [...new Set(required)].filter((t) => !types.find((x) => x.capability_type === t)?.is_mission_ready).sort((a, b) => a - b);
  return {
    types,
    readiness,
    gaps,
    oversight_required: types.filter((t) => t.requires_oversight).map((t) => t.capability_type),
    method: `mean;redundancy;authority;oversight=${oversightOn ? 'on' : 'disabled'}`,
  };
}

/** The cell's capabilities as documents hold them: one per type, id `<squad_id>_<TypeName>`. */
export function squadCapabilities(squadId: string, aggregation: CellAggregation, registeredAt: number): Capability[] {
  return aggregation.types.map((t) => ({
    id: `${squadId}_${capabilityTypeName(t.capability_type)}`,
    name: capabilityTypeName(t.capability_type).toLowerCase(),
    capability_type: t.capability_type,
    confidence: t.confidence,
    metadata: { contributors: [...t.contributors], requires_oversight: t.requires_oversight },
    registered_at: registeredAt,
  }));
}
