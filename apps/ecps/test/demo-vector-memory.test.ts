// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { runDemo } from '../src/demo/run-demo';
import vectorMemory from '../src/demo/steps/03-vector-memory';

describe('ecps demo: vector memory', () => {
  it('stores embeddings with a strong quorum and finds the red cube first', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: [vectorMemory] });
    const text = lines.join('\n');
    expect(text).toMatch(/Put "red cube" \(64-d f32\): stored "Embedding stored successfully"/);
    expect(text).toMatch(/memory +✓ 5 embeddings stored; the replicas hold 5 and 5/);
    const hits = lines.filter((l) => l.includes('robot-eyes ←'));
    expect(hits[0]).toMatch(/"red cube" similarity 0\.\d{3} /);
    expect(text).toMatch(/robot-eyes ✓ the red cube, seen from another angle, is the closest match/);
    expect(text).toMatch(/memory +⊘ expected refusal: the Put is not stored: "TENSOR_SIZE_MISMATCH/);
  });
});
