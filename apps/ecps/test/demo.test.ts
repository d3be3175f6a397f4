// SPDX-License-Identifier: Apache-2.0
import { existsSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { runDemo } from '../src/demo/run-demo';
import { swtpmInstalled } from '../src/demo/software-tpm';
import type { DemoEvent, DemoStep } from '../src/demo/step';
import { tpmAttestationStep } from '../src/demo/steps/06-tpm-attestation';
import { demoSteps } from '../src/demo/steps/index';

describe('ecps demo', () => {
  it('runs the prompt-and-action step end to end and narrates it', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.slice(0, 1) });
    const text = lines.join('\n');
    expect(text).toMatch(/robot-arm +← prompt "Pick up the red cube/);
    expect(text).toMatch(/controller ⊘ expected refusal: a 16385-byte prompt is over the 16384-byte limit and is never sent \(PROMPT_TOO_LARGE\)/);
    expect(text).toMatch(/robot-arm +← action GRIP position=0\.20 force≤15 N from urn:ecps:controller/);
    expect(text).toMatch(/robot-arm +✓ gripper executed/);
    expect(lines.at(-1)).toBe('demo complete: 1 step, 2 checks held (1 of them expected refusals)');
  });

  it('runs the camera step: an image frame and a chunked feature map arrive intact', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.startsWith('A camera')) });
    const text = lines.join('\n');
    expect(text).toMatch(/perception ← u8\[240×320×3\] frame=camera_optical \(one DATA frame, zstd\)/);
    expect(text).toMatch(/perception ← f32\[8×384×384\] frame=camera_optical \(reassembled from \d+ chunks, zstd\)/);
    expect(text).toMatch(/camera +✓ both tensors arrived bit-identical \(SHA-256 compared\); the chunked one was acknowledged, 0 chunks resent/);
  });

  it('rejects the intruder of the trust step and says so', async () => {
    const lines: string[] = [];
    const trust = demoSteps.find((s) => s.title.startsWith('Trust'))!;
    await runDemo({ out: (l) => lines.push(l), steps: [trust] });
    const text = lines.join('\n');
    expect(text).toMatch(/robot-arm +← executes .* from urn:ecps:controller/);
    expect(text).toMatch(/robot-arm +⊘ expected refusal: the forged action .* \(KEY_NOT_FOUND\)/);
    expect(text).toMatch(/robot-arm +⊘ expected refusal: the unsigned action .* \(UNAUTHENTICATED\)/);
    expect(text).toMatch(/robot-arm +✓ executed 1 of 3 actions/);
    expect(text).not.toMatch(/✗/);
  });

  it('runs the gRPC step: a real router, two nodes, one trace across them', async () => {
    const lines: string[] = [];
    const step = demoSteps.find((s) => s.title.includes('gRPC'))!;
    await runDemo({ out: (l) => lines.push(l), steps: [step] });
    const text = lines.join('\n');
    expect(text).toMatch(/grpc router listening on 127\.0\.0\.1:\d+/);
    expect(text).toMatch(/robot-leg +← prompt "Walk to the charging dock\." over gRPC, traceparent 00-[0-9a-f]{32}-[0-9a-f]{16}-01/);
    expect(text).toMatch(/otel +✓ one trace: the receiver's span is a child of the sender's/);
  });

  it('fails a step that does not finish, and says which', async () => {
    const stuck = { title: 'stuck', run: () => new Promise<void>(() => undefined) };
    await expect(runDemo({ out: () => undefined, steps: [stuck], stepTimeoutMs: 100 })).rejects.toThrow(/"stuck" did not finish/);
  });

  it('a check that does not hold fails its step with ✗ and the checks that held before it', async () => {
    const lines: string[] = [];
    const events: DemoEvent[] = [];
    const failing: DemoStep = {
      title: 'failing',
      run: async (ctx) => {
        ctx.held('robot', 'first check');
        throw new Error('the second check did not hold');
      },
    };
    await expect(runDemo({ out: (l) => lines.push(l), onEvent: (e) => events.push(e), steps: [failing] })).rejects.toThrow('the second check did not hold');
    expect(lines.at(-1)).toBe('✗ step 1 failed after 1 check held: the second check did not hold');
    expect(events.at(-1)).toEqual({ type: 'failed', step: 1, title: 'failing', checks: 1, reason: 'the second check did not hold' });
  });

  it('stops between or during steps when its signal aborts, removing its temporary folders', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    let dir = '';
    const slow: DemoStep = {
      title: 'slow',
      run: async (ctx) => {
        dir = ctx.tempDir('slow');
        stop.abort();
        await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
      },
    };
    const summary = await runDemo({ out: (l) => lines.push(l), steps: [slow, slow], signal: stop.signal });
    expect(summary).toEqual({ steps: 0, checks: 0, refusals: 0, stopped: true });
    expect(lines.at(-1)).toBe('demo stopped during step 1 after 0 checks held');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('ecps demo: TPM attestation step', () => {
  const step = demoSteps.find((s) => s.title.startsWith('TPM attestation'))!;

  (swtpmInstalled() ? it : it.skip)('rejects actions until a verified quote, then accepts them; refuses the robot with a patched image', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: [step] });
    const text = lines.join('\n');
    expect(text).toMatch(/controller +⊘ expected refusal: rejected UNAUTHENTICATED \(not-admitted\): arm-tpm is not admitted/);
    expect(text).toMatch(/controller +✓ quote verified: .*PCRs 0, 4, 8, 9, boot chain firmware → bootloader → image → config/);
    expect(text).toMatch(/controller +← accepted .* from urn:ecps:arm-tpm/);
    expect(text).toMatch(/controller +⊘ expected refusal: arm-rogue refused: ATTESTATION_FAILED \(measurement\), first mismatching measurement: image/);
    expect(text).toMatch(/controller +⊘ expected refusal: rejected UNAUTHENTICATED \(not-admitted\): arm-rogue is not admitted/);
    expect(text).toMatch(/controller +✓ accepted 1 of 3 actions/);
  }, 60_000);

  it('says how to install swtpm when it is missing, and skips', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: [tpmAttestationStep('swtpm-not-installed')] });
    expect(lines.join('\n')).toMatch(/swtpm is not installed, so this step is skipped: apt-get install swtpm/);
  });
});

describe('ecps demo: action log step', () => {
  it('logs every action, prints eaplog info and replays the log with the same state_sha sequence', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.includes('.eaplog')) });
    const text = lines.join('\n');
    expect(text).toMatch(/result 1: gripper ok/);
    expect(text).toMatch(/arm-7 +⊘ expected refusal: result 2: gripper FAILED \(force limit 35 N/);
    expect(text).toMatch(/planner +✓ stop_on_fail held: result 3: navigate skipped/);
    expect(text).toMatch(/\(temporary: deleted when the demo ends; --keep-log DIR keeps it\)/);
    expect(text).toMatch(/Layout: +ecps-v2/);
    expect(text).toMatch(/Robot ID: +arm-7/);
    expect(text).toMatch(/Messages: +3/);
    expect(text).toMatch(/replayer +✓ 3 actions replayed in recorded order; state_sha sequence identical \(3 executed\)/);
  });
});

describe('ecps demo: SW4RM step', () => {
  it('registers two agents, completes the ACK lifecycle and shows a redelivery after a restart', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.startsWith('SW4RM agents')) });
    const text = lines.join('\n');
    expect(text).toMatch(/registry +← RegisterAgent planner: accepted=true/);
    expect(text).toMatch(/planner +← ACK RECEIVED/);
    expect(text).toMatch(/planner +← ACK FULFILLED/);
    expect(text).toMatch(/planner +✓ task-1 lifecycle ended FULFILLED/);
    const crash = /worker#1 +crashes before acknowledging seq (\d+)/.exec(text);
    expect(crash).not.toBeNull();
    expect(text).toMatch(new RegExp(`worker#2 +← seq ${crash![1]} `));
    expect(text).toMatch(new RegExp(`router +✓ redelivered seq ${crash![1]}, never acknowledged by worker#1, to worker#2`));
    expect(text).toMatch(/task-2 lifecycle ended FULFILLED .*router rows left for worker: 0/);
  }, 30_000);
});

describe('ecps demo: SW4RM services step', () => {
  it('hands off by capability, runs a workflow, a worktree tool, a HITL-approved tool, reasoning and logging', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.startsWith('SW4RM services')) });
    const text = lines.join('\n');
    expect(text).toMatch(/handoff +builder accepts; status ACCEPTED/);
    expect(text).toMatch(/worktree +builder binds app\/feature-x \(git worktree add\): ok=true, state BOUND_HOME/);
    expect(text).toMatch(/tools +count-files ran in the worktree, network off: \{"files":\d+,"cwd":".*feature-x"\}/);
    expect(text).toMatch(/workflow +✓ release: compile COMPLETED, package COMPLETED; data \{"artifact":"compile.tgz"\}/);
    expect(text).toMatch(/hitl +a person is asked: TOOL_PRIVILEGE_ESCALATION/);
    expect(text).toMatch(/deploy says \{"deployed":true\}/);
    expect(text).toMatch(/reasoning +ui vs db in parallel: 1\.00; src vs schema.sql: 0\.00/);
    expect(text).toMatch(/logging +2 events appended/);
  }, 60_000);
});

describe('ecps demo: Codex step', () => {
  it('starts the robot bots through the API, a crashed bot is healed, and the dashboard URL is printed', async () => {
    const lines: string[] = [];
    await runDemo({ out: (l) => lines.push(l), steps: demoSteps.filter((s) => s.title.startsWith('Codex')) });
    const text = lines.join('\n');
    expect(text).toMatch(/codex +started arm-controller +running as ECPS node robot-arm/);
    expect(text).toMatch(/codex +started task-planner +running as SW4RM agent planner/);
    expect(text).toMatch(/codex +camera-driver crashed, as its first run is meant to \(exit code 1\)/);
    expect(text).toMatch(/codex +✓ camera-driver healed/);
    expect(text).toMatch(/codex +3 of 3 bots running/);
    const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/api\/v1\/dashboard)/.exec(text)?.[1];
    expect(url).toBeDefined();
    // The server is gone with the step: nothing keeps running after the demo.
    await expect(fetch(url!)).rejects.toThrow();
  }, 60_000);
});
