// SPDX-License-Identifier: Apache-2.0
// Leadership scores (spec §3.2): a technical score from the platform's capabilities, power and health; an
// authority score from its best qualifying operator; and their weighted sum under the election policy. Scores are
// quantized to integers (×10,000) before anyone compares them, so every node ranks candidates identically.
import { CapabilityType, Phase, authorityScore, healthScore, rankScore } from '@ecps/peat';
import type { NodeConfig, NodeState, Operator } from '@ecps/peat';

/** Ranks in increasing order (for minimum-rank checks). */
export const RANK_ORDER: readonly string[] = [
  'E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7', 'E8', 'E9', 'W1', 'W2', 'W3', 'W4', 'W5',
  'O1', 'O2', 'O3', 'O4', 'O5', 'O6', 'O7', 'O8', 'O9', 'O10',
];

export type ElectionPolicy = 'rank_dominant' | 'technical_dominant' | 'hybrid' | 'contextual';

/** Election settings (`CAP_*` overrides). */
export interface ElectionSettings {
  /** Default `hybrid`. */
  readonly policy?: ElectionPolicy;
  /** Overrides the hybrid authority weight (the technical weight becomes 1 − it). */
  readonly authorityWeight?: number;
  /** Default false: a cell without a qualifying operator gets an autonomous leader that needs approval. */
  readonly allowAutonomousLeaders?: boolean;
  /** Default E5. */
  readonly minLeaderRank?: string;
  /** Default 0.85. */
  readonly maxCognitiveLoad?: number;
  /** Default 0.75. */
  readonly maxFatigue?: number;
}

/** `Math.round(score × 10000)`. */
export function quantize(score: number): number {
  return Math.round(score * 10_000);
}

function best(config: Pick<NodeConfig, 'capabilities'>, type: number): number {
  let b = 0;
  for (const c of config.capabilities) if (c.capability_type === type && c.confidence > b) b = c.confidence;
  return b;
}

/**
 * `0.30·compute + 0.25·comms + 0.20·sensors + 0.15·power + 0.10·reliability`: best COMPUTE and COMMUNICATION
 * confidences, `min(1, 0.25 × #SENSOR)`, battery (else `min(1, fuel/120)`), and the health score.
 */
export function technicalScore(config: Pick<NodeConfig, 'capabilities'>, state: Pick<NodeState, 'fuel_minutes' | 'health'>, batteryPercent?: number | null): number {
  const sensors = Math.min(1, 0.25 * config.capabilities.filter((c) => c.capability_type === CapabilityType.SENSOR).length);
  const power = batteryPercent != null ? Math.min(1, Math.max(0, batteryPercent / 100)) : Math.min(1, Math.max(0, state.fuel_minutes / 120));
  return 0.3 * best(config, CapabilityType.COMPUTE) + 0.25 * best(config, CapabilityType.COMMUNICATION) + 0.2 * sensors + 0.15 * power + 0.1 * healthScore(state.health);
}

/** Whether an operator may lead: load ≤ 0.85, fatigue ≤ 0.75, rank ≥ E5 (or the configured limits). */
export function operatorQualifies(op: Operator, settings: ElectionSettings = {}): boolean {
  const rank = RANK_ORDER.indexOf(op.rank.toUpperCase());
  return (
    op.cognitive_load <= (settings.maxCognitiveLoad ?? 0.85) &&
    op.fatigue <= (settings.maxFatigue ?? 0.75) &&
    rank >= 0 &&
    rank >= RANK_ORDER.indexOf(settings.minLeaderRank ?? 'E5')
  );
}

/** `0.6·rank + 0.3·authority + 0.1·(1 − load)` of the best qualifying operator; 0 without one. */
export function authorityScoreOf(config: Pick<NodeConfig, 'operator_binding'>, settings: ElectionSettings = {}): { score: number; qualified: boolean } {
  let bestScore = -1;
  for (const op of config.operator_binding?.operators ?? []) {
    if (!operatorQualifies(op, settings)) continue;
    bestScore = Math.max(bestScore, 0.6 * rankScore(op.rank) + 0.3 * authorityScore(op.authority_level) + 0.1 * (1 - op.cognitive_load));
  }
  return bestScore < 0 ? { score: 0, qualified: false } : { score: bestScore, qualified: true };
}

/** The (authority, technical) weights of `policy` in `phase`. */
export function policyWeights(settings: ElectionSettings = {}, phase: number = Phase.UNSPECIFIED): [number, number] {
  switch (settings.policy ?? 'hybrid') {
    case 'rank_dominant':
      return [1, 0];
    case 'technical_dominant':
      return [0, 1];
    case 'contextual':
      return phase === Phase.DISCOVERY ? [0.7, 0.3] : phase === Phase.HIERARCHY ? [0.8, 0.2] : [0.6, 0.4];
    default: {
      const a = settings.authorityWeight ?? 0.6;
      return [a, 1 - a];
    }
  }
}

/** A node's standing in an election. */
export interface CandidateScore {
  readonly node_id: string;
  readonly score_q: number;
  readonly technical_q: number;
  readonly eligible: boolean;
}

/** Scores a node: eligible iff it has a qualifying operator or autonomous leaders are allowed. */
export function candidateScore(
  nodeId: string,
  config: Pick<NodeConfig, 'capabilities' | 'operator_binding'>,
  state: Pick<NodeState, 'fuel_minutes' | 'health' | 'phase'>,
  settings: ElectionSettings = {},
  batteryPercent?: number | null,
): CandidateScore & { readonly authority: number; readonly technical: number; readonly score: number } {
  const technical = technicalScore(config, state, batteryPercent);
  const authority = authorityScoreOf(config, settings);
  const [wa, wt] = policyWeights(settings, state.phase);
  const score = wa * authority.score + wt * technical;
  return {
    node_id: nodeId,
    authority: authority.score,
    technical,
    score,
    score_q: quantize(score),
    technical_q: quantize(technical),
    eligible: authority.qualified || (settings.allowAutonomousLeaders ?? false),
  };
}

const byIdDesc = (a: string, b: string) => (a > b ? -1 : a < b ? 1 : 0);

/**
 * Orders candidates: eligible ones by (score_q desc, node_id desc); if none is eligible, all by
 * (technical_q desc, node_id desc) with the winner flagged autonomous. Empty input gives an empty ranking.
 */
export function rankCandidates(candidates: readonly CandidateScore[]): { ranking: CandidateScore[]; autonomous: boolean } {
  const eligible = candidates.filter((c) => c.eligible);
  if (eligible.length > 0) return { ranking: [...eligible].sort((a, b) => b.score_q - a.score_q || byIdDesc(a.node_id, b.node_id)), autonomous: false };
  return { ranking: [...candidates].sort((a, b) => b.technical_q - a.technical_q || byIdDesc(a.node_id, b.node_id)), autonomous: candidates.length > 0 };
}

/** Whether `a` outranks `b` (same rule as {@link rankCandidates}). */
export function outranks(a: CandidateScore, b: CandidateScore): boolean {
  const r = rankCandidates([a, b]).ranking;
  return r[0]?.node_id === a.node_id;
}
