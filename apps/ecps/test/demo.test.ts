import { describe, expect, it } from '@jest/globals';
import { runDemo } from '../src/demo/run-demo';
import { demoSteps } from '../src/demo/steps/index';

describe('ecps demo', () => {
  it('runs the prompt-and-action step end to end and narrates it', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.slice(0, 1) });
    const text = lines.join('\n');
    expect(text).toMatch(/robot-arm +← prompt "Pick up the red cube/);
    expect(text).toMatch(/refused before sending: PROMPT_TOO_LARGE/);
    expect(text).toMatch(/robot-arm +← action GRIP position=0\.20 force≤15 N from urn:ecps:controller/);
    expect(text).toMatch(/demo complete/);
  });

  it('fails a step that does not finish, and says which', async () => {
    const stuck = { title: 'stuck', run: () => new Promise<void>(() => undefined) };
    await expect(runDemo({ out: () => undefined, steps: [stuck], stepTimeoutMs: 100 })).rejects.toThrow(/"stuck" did not finish/);
  });
});
