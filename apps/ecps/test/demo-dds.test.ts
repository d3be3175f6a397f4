// `ecps demo --transport dds`: the demo's steps over Cyclone DDS (loopback-only configuration, DDS domain 20 for this
// file). The SW4RM and gRPC steps bring their own networks and are covered by demo.test.ts.
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { runDemo } from '../src/demo/run-demo';
import { demoSteps } from '../src/demo/steps/index';

const DOMAIN_ID = 20;
const overDds = demoSteps.filter((s) => !s.title.startsWith('SW4RM') && !s.title.includes('gRPC'));

describe('ecps demo --transport dds', () => {
  it('runs every step that uses the demo network over DDS', async () => {
    expect(overDds.length).toBe(9);
    const lines: string[] = [];
    await runDemo({ transport: 'dds', domainId: DOMAIN_ID, out: (l) => lines.push(l), steps: overDds });
    const text = lines.join('\n');
    expect(text).toMatch(/^ECPS demo over DDS \(Cyclone DDS 0\.10\.\d+\) on loopback, domain 20/);
    expect(text).toMatch(/robot-arm +← action GRIP position=0\.20 force≤15 N from urn:ecps:controller/);
    expect(text).toMatch(/perception ← f32\[8×384×384\] frame=camera_optical \(reassembled from \d+ chunks, zstd\)/);
    expect(text).toMatch(/memory +✓ 5 embeddings stored; the replicas hold 5 and 5/);
    expect(text).toMatch(/robot-arm +⊘ expected refusal: the forged action is dropped: .*\(KEY_NOT_FOUND\)/);
    expect(text).toMatch(/elected leader of term \d+; 2 peers discovered by heartbeat/);
    expect(text).toMatch(/robot-\d marked unavailable/);
    expect(text).toMatch(/3 actions replayed in recorded order; state_sha sequence identical/);
    expect(text).toMatch(/demo complete: 9 steps, \d+ checks held/);
    expect(text).not.toMatch(/✗/);
  }, 120_000);

  it('refuses --broker with DDS', async () => {
    const failure = await runDemo({ transport: 'dds', broker: 'mqtt://127.0.0.1:1', out: () => undefined, steps: [] }).catch((e: unknown) => e);
    expect(isEcpsError(failure, 'CONFIG_INVALID')).toBe(true);
  });
});
