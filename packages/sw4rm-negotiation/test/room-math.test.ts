// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { DecisionOutcome } from '@ecps/sw4rm/proto';
import { abstainVotes, aggregateScores, bordaWeightedMean, decideOutcome, evaluateQuorum } from '../src/index';

const v = (score: number, confidence: number, passed = true) => ({ score, confidence, passed });

describe('score-summary-v1 vectors (checklist 14)', () => {
  it('matches the spec vectors', () => {
    expect(aggregateScores([v(2, 0.25), v(10, 0.75)])).toMatchObject({ mean: 6, stdDev: 4, weightedMean: 8, minScore: 2, maxScore: 10, voteCount: 2 });
    expect(aggregateScores([v(2, 0), v(10, 0)]).weightedMean).toBe(6);
    expect(aggregateScores([v(0, 0), v(8, 1)])).toMatchObject({ mean: 4, weightedMean: 8 });
    expect(aggregateScores([v(1, 1), v(2, 1), v(3, 1)]).stdDev).toBeCloseTo(0.816496580927726, 15);
    expect(() => aggregateScores([])).toThrow(/no votes/);
  });
});

describe('borda-v1 vectors', () => {
  it('matches the spec vectors', () => {
    expect(bordaWeightedMean([9, 1, 1])).toBe(5.0);
    expect(bordaWeightedMean([10, 0])).toBe(6.666666666666667);
    expect(bordaWeightedMean([6, 6, 2])).toBe(5.333333333333333);
  });
});

describe('quorum-v1', () => {
  it('thresholds by rule, fraction ceilings robust to float error, only requested critics count', () => {
    expect(evaluateQuorum(['a', 'b'], ['a'], { minimumFraction: 0.5 })).toEqual({ received: 1, expected: 2, threshold: 1, met: true });
    expect(evaluateQuorum(['a', 'b', 'c'], ['a'], { minimumFraction: 0.5 })).toEqual({ received: 1, expected: 3, threshold: 2, met: false });
    expect(evaluateQuorum(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], [], { minimumFraction: 0.7 }).threshold).toBe(7); // 0.7*10 = 7.000000000000001
    expect(evaluateQuorum(['a', 'b'], ['a', 'x', 'a'], { minimumVotes: 2 })).toMatchObject({ received: 1, met: false });
    expect(evaluateQuorum(['a', 'b'], ['a', 'b'], { requireAll: true })).toMatchObject({ threshold: 2, met: true });
    expect(evaluateQuorum(['a', 'b'], [], { requireAll: false })).toMatchObject({ threshold: 0, met: true });
    expect(abstainVotes(['a', 'b', 'c'], ['b'])).toEqual([
      { criticId: 'a', score: 0, confidence: 0, passed: false },
      { criticId: 'c', score: 0, confidence: 0, passed: false },
    ]);
  });
});

describe('decision rule', () => {
  it('escalates first, then approves only when every bar holds', () => {
    expect(decideOutcome([v(9, 0.9), v(8, 0.8)]).outcome).toBe(DecisionOutcome.APPROVED);
    expect(decideOutcome([v(9, 0.9), v(8, 0.29)]).outcome).toBe(DecisionOutcome.ESCALATED_TO_HITL);
    expect(decideOutcome([v(10, 0.9), v(2, 0.9)]).outcome).toBe(DecisionOutcome.ESCALATED_TO_HITL); // std 4 > 3
    expect(decideOutcome([v(9, 0.9), v(8, 0.8)], { quorumTimedOut: true }).outcome).toBe(DecisionOutcome.ESCALATED_TO_HITL);
    expect(decideOutcome([{ ...v(9, 0.9), requestsEscalation: true }]).outcome).toBe(DecisionOutcome.ESCALATED_TO_HITL);
    expect(decideOutcome([v(6.9, 0.9), v(7, 0.9)]).outcome).toBe(DecisionOutcome.REVISION_REQUESTED);
    expect(decideOutcome([v(9, 0.6), v(9, 0.7)]).outcome).toBe(DecisionOutcome.REVISION_REQUESTED); // mean confidence 0.65
    expect(decideOutcome([v(9, 0.9), v(9, 0.9, false)]).outcome).toBe(DecisionOutcome.REVISION_REQUESTED); // pass ratio 0.5
    expect(decideOutcome([v(10, 0.9), v(6, 0.9)]).outcome).toBe(DecisionOutcome.APPROVED); // std-dev exactly 2.0 still approves
    expect(decideOutcome([v(10, 0.9), v(5.8, 0.9)]).outcome).toBe(DecisionOutcome.REVISION_REQUESTED); // std-dev 2.1
  });
});
