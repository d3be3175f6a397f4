// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { runDemo } from '../src/demo/run-demo';
import { demoSteps } from '../src/demo/steps/index';

describe('ecps demo: the Peat step', () => {
  it('forms two cells with leaders, composes an ISR chain, summarises a platoon and rolls back a failed deployment', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.startsWith('Peat:')) });
    const text = lines.join('\n');
    expect(text).toMatch(/cell-A: .*→ leader ugv-\d round \d+/);
    expect(text).toMatch(/cell-B: .*→ leader ugv-\d round \d+/);
    expect(text).toMatch(/composed in each cell: isr_chain 0\.\d+, isr_chain 0\.\d+/);
    expect(text).toMatch(/platoon-1 \(leader ugv-\d, from summary deltas\): 2 squads, 8 robots/);
    expect(text).toMatch(/⊘ expected refusal: detector-v2: \d\/8 active; ugv-8 refused its copy \(hash mismatch\)/);
    expect(text).toMatch(/success \d+\.\d % < 100 % → rollback/);
    expect(text).toContain('reads "detector.threshold = 0.5" again');
  }, 180_000);
});
