// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { runDemo } from '../src/demo/run-demo';
import { demoSteps } from '../src/demo/steps/index';

describe('ecps demo: the Peat step', () => {
  it('forms two cells with leaders, composes an ISR chain, summarises a platoon and rolls back a failed deployment', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.startsWith('Peat:')) });
    const text = lines.join('\n');
    expect(text).toMatch(/cell-A: .*→ leader ugv-\d round 1, operational/);
    expect(text).toMatch(/cell-B: .*→ leader ugv-\d round 1, operational/);
    expect(text).toMatch(/composed .*isr_chain 0\.86/);
    expect(text).toMatch(/platoon-1: 2 squads, 8 robots/);
    expect(text).toContain('⊘ expected refusal: detector-v2: 7/8 active; ugv-8 refused its copy (hash mismatch)');
    expect(text).toMatch(/success 87\.5 % < 100 % → rollback/);
    expect(text).toContain('reads "detector.threshold = 0.5" again');
  }, 60_000);
});
