// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { runDemo } from '../src/demo/run-demo';
import swarm from '../src/demo/steps/08-swarm-coordination';

describe('ecps demo: swarm step', () => {
  it('elects a leader, forms up, distributes tasks, and fails over when the leader dies', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: [swarm] });
    const text = lines.join('\n');
    expect(text).toMatch(/robot-\d elected leader of term \d+/);
    expect(text).toMatch(/→ triangle slot/);
    expect(text).toMatch(/pick-cube → robot-[12] \(committed through Raft\)/);
    expect(text).toMatch(/scan-aisle → robot-3 \(committed through Raft\)/);
    const killed = /killing the leader (robot-\d)/.exec(text)?.[1];
    expect(killed).toBeDefined();
    expect(text).toMatch(new RegExp(`robot-\\d took over in term \\d+`));
    expect(text).toMatch(new RegExp(`${killed} marked unavailable`));
    expect(text).toMatch(/→ line slot/);
    expect(text).toMatch(/demo complete/);
  });
});
