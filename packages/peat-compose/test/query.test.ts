// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T } from '@ecps/peat';
import { capabilityStats, matchesQuery, queryCapabilities, queryScore } from '../src/index';
import { cap } from './caps';

describe('checklist 3: capability query', () => {
  const q = { required_types: [T.SENSOR], optional_types: [T.COMPUTE], min_confidence: 0.5 };

  it('scores 0.6·R + 0.3·O + 0.1·M (vector 0.73)', () => {
    const caps = [cap(T.SENSOR, 0.8), cap(T.COMPUTE, 0.6), cap(T.COMMUNICATION, 0.7)];
    expect(queryScore(caps, q)).toBeCloseTo(0.73, 9);
    // no required or optional types: R = O = 1
    expect(queryScore([cap(T.SENSOR, 0.5)], { required_types: [], optional_types: [], min_confidence: 0 })).toBeCloseTo(0.6 + 0.3 + 0.05, 9);
    // a missing required type counts 0
    expect(queryScore([cap(T.COMPUTE, 1)], q)).toBeCloseTo(0 + 0.3 + 0.1, 9);
  });

  it('filters on required types at the minimum confidence and on the minimum count', () => {
    expect(matchesQuery([cap(T.SENSOR, 0.5)], q)).toBe(true);
    expect(matchesQuery([cap(T.SENSOR, 0.49)], q)).toBe(false);
    expect(matchesQuery([cap(T.COMPUTE, 0.9)], q)).toBe(false);
    expect(matchesQuery([cap(T.SENSOR, 0.9)], { ...q, min_capability_count: 2 })).toBe(false);
    expect(matchesQuery([cap(T.SENSOR, 0.9), cap(T.MOBILITY, 0.1)], { ...q, min_capability_count: 2 })).toBe(true);
  });

  it('sorts by score, breaks ties by id and truncates to the limit', () => {
    const nodes = [
      { id: 'c', capabilities: [cap(T.SENSOR, 0.6)] },
      { id: 'a', capabilities: [cap(T.SENSOR, 0.9), cap(T.COMPUTE, 0.9)] },
      { id: 'b', capabilities: [cap(T.SENSOR, 0.6)] },
      { id: 'x', capabilities: [cap(T.COMPUTE, 0.9)] },
    ];
    expect(queryCapabilities(nodes, q).map((m) => m.candidate.id)).toEqual(['a', 'b', 'c']);
    expect(queryCapabilities(nodes, { ...q, limit: 2 }).map((m) => m.candidate.id)).toEqual(['a', 'b']);
    expect(() => queryCapabilities(nodes, { ...q, min_confidence: 2 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('gives per-type statistics (count, avg, min, max)', () => {
    const stats = capabilityStats([cap(T.SENSOR, 0.6), cap(T.SENSOR, 0.8), cap(T.COMPUTE, 0.5)]);
    expect(stats.get(T.SENSOR)).toEqual({ count: 2, avg: expect.closeTo(0.7, 9), min: 0.6, max: 0.8 });
    expect(stats.get(T.COMPUTE)).toEqual({ count: 1, avg: 0.5, min: 0.5, max: 0.5 });
  });
});
