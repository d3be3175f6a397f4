// SPDX-License-Identifier: Apache-2.0
// Negotiation Room decision math (spec §3.11): score-summary-v1, borda-v1, quorum-v1 and the decision rule.
import { ValidationError } from '@ecps/core';
import { DecisionOutcome } from '@ecps/sw4rm/proto';
import type { AggregatedScore } from '@ecps/sw4rm/proto';

/** The minimum a vote needs for the math. */
export interface ScoredVote {
  score: number;
  confidence: number;
  passed?: boolean;
  criticId?: string;
  /** True when the critic asks for human escalation. */
  requestsEscalation?: boolean;
}

/**
 * score-summary-v1: mean, min, max, population std-dev, confidence-weighted mean (arithmetic mean when the
 * confidences sum to 0). @throws ValidationError INVALID_ARGUMENT for no votes.
 */
export function aggregateScores(votes: readonly ScoredVote[]): AggregatedScore {
  if (votes.length === 0) throw new ValidationError('INVALID_ARGUMENT', 'score-summary-v1: no votes to aggregate');
  const n = votes.length;
  const scores = votes.map((v) => v.score);
  const mean = scores.reduce((a, b) => a + b, 0) / n;
  const variance = scores.reduce((a, s) => a + (s - mean) ** 2, 0) / n;
  const sumConf = votes.reduce((a, v) => a + v.confidence, 0);
  const weightedMean = sumConf === 0 ? mean : votes.reduce((a, v) => a + v.score * v.confidence, 0) / sumConf;
  return { mean, minScore: Math.min(...scores), maxScore: Math.max(...scores), stdDev: Math.sqrt(variance), weightedMean, voteCount: n };
}

/** borda-v1: rank by score (highest first, stable ties), points n…1, Σ(points·score)/Σpoints. */
export function bordaWeightedMean(scores: readonly number[]): number {
  if (scores.length === 0) throw new ValidationError('INVALID_ARGUMENT', 'borda-v1: no votes');
  const ranked = scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  const n = ranked.length;
  let num = 0;
  let den = 0;
  ranked.forEach((r, rank) => {
    const points = n - rank;
    num += points * r.s;
    den += points;
  });
  return num / den;
}

/** quorum-v1 rule: exactly one of the three forms. */
export type QuorumRule = { minimumVotes: number } | { minimumFraction: number } | { requireAll: boolean };

/** What to do when the quorum is not met. */
export type QuorumFailurePolicy = 'fail_closed' | 'fail_with_available' | 'fail_with_abstain';

/** The quorum verdict. */
export interface QuorumResult {
  received: number;
  expected: number;
  threshold: number;
  met: boolean;
}

/** quorum-v1: `received` = distinct requested critics that voted; threshold by the rule (fraction ceilings robust to float error). */
export function evaluateQuorum(requested: readonly string[], voters: readonly string[], rule: QuorumRule = { minimumFraction: 0.5 }): QuorumResult {
  const wanted = new Set(requested);
  const received = new Set(voters.filter((v) => wanted.has(v))).size;
  const expected = requested.length;
  let threshold: number;
  if ('minimumVotes' in rule) threshold = rule.minimumVotes;
  else if ('minimumFraction' in rule) {
    const raw = rule.minimumFraction * expected;
    const rounded = Math.round(raw);
    threshold = Math.abs(raw - rounded) < 1e-9 ? rounded : Math.ceil(raw);
  } else threshold = rule.requireAll ? expected : 0;
  return { received, expected, threshold, met: received >= threshold };
}

/** Abstain records for requested critics without a vote (fail_with_abstain): score 0, confidence 0, not passed. */
export function abstainVotes(requested: readonly string[], voters: readonly string[]): ScoredVote[] {
  const have = new Set(voters);
  return [...new Set(requested)].filter((c) => !have.has(c)).map((criticId) => ({ criticId, score: 0, confidence: 0, passed: false }));
}

/** Decision thresholds (spec defaults). */
export interface DecisionThresholds {
  approveWeightedMean: number;
  approveMeanConfidence: number;
  approvePassRatio: number;
  approveMaxStdDev: number;
  escalateMinConfidence: number;
  escalateMaxStdDev: number;
}

export const DEFAULT_THRESHOLDS: DecisionThresholds = {
  approveWeightedMean: 7.0,
  approveMeanConfidence: 0.7,
  approvePassRatio: 0.8,
  approveMaxStdDev: 2.0,
  escalateMinConfidence: 0.3,
  escalateMaxStdDev: 3.0,
};

/** The policy version every decision carries. */
export const ROOM_POLICY_VERSION = 'negotiation-room-v1;score-summary-v1;quorum-v1';

/**
 * The decision rule: escalation is checked first (any confidence < 0.3, std-dev > 3.0, a critic asking for it,
 * or a timed-out fail_closed quorum); then APPROVED if every approval bar holds; else REVISION_REQUESTED.
 */
export function decideOutcome(
  votes: readonly ScoredVote[],
  options: { quorumTimedOut?: boolean; thresholds?: DecisionThresholds } = {},
): { outcome: DecisionOutcome; aggregated: AggregatedScore; reason: string } {
  const t = options.thresholds ?? DEFAULT_THRESHOLDS;
  const aggregated = aggregateScores(votes);
  if (options.quorumTimedOut) return { outcome: DecisionOutcome.ESCALATED_TO_HITL, aggregated, reason: 'quorum not reached before the deadline (fail_closed)' };
  if (votes.some((v) => v.confidence < t.escalateMinConfidence)) return { outcome: DecisionOutcome.ESCALATED_TO_HITL, aggregated, reason: `a vote has confidence < ${t.escalateMinConfidence}` };
  if (aggregated.stdDev > t.escalateMaxStdDev) return { outcome: DecisionOutcome.ESCALATED_TO_HITL, aggregated, reason: `std-dev ${aggregated.stdDev.toFixed(3)} > ${t.escalateMaxStdDev}` };
  if (votes.some((v) => v.requestsEscalation)) return { outcome: DecisionOutcome.ESCALATED_TO_HITL, aggregated, reason: 'a critic requested escalation' };
  const meanConfidence = votes.reduce((a, v) => a + v.confidence, 0) / votes.length;
  const passRatio = votes.filter((v) => v.passed).length / votes.length;
  if (aggregated.weightedMean >= t.approveWeightedMean && meanConfidence >= t.approveMeanConfidence && passRatio >= t.approvePassRatio && aggregated.stdDev <= t.approveMaxStdDev) {
    return { outcome: DecisionOutcome.APPROVED, aggregated, reason: 'all approval thresholds met' };
  }
  return { outcome: DecisionOutcome.REVISION_REQUESTED, aggregated, reason: 'approval thresholds not met' };
}
