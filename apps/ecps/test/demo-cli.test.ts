// SPDX-License-Identifier: Apache-2.0
// `ecps demo` as a user runs it (the BUILT CLI, a child process): what it prints, its exit codes, an early close of
// its output (`| head`), Ctrl-C, a broker that refuses or never answers, and nothing left in its temp folder.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { freePort } from '@ecps/testkit';
import { swtpmInstalled } from '../src/demo/software-tpm';
import { ecps, startEcps } from './run-ecps';

// Each run gets its own TMPDIR, so "nothing left behind" is checked per run.
const root = mkdtempSync(join(tmpdir(), 'ecps-demo-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runs = 0;
const privateTmp = (): string => mkdtempSync(join(root, `run-${runs++}-`));

/** The demo's steps (src/demo/steps/index.ts). */
const STEPS = 12;
/** Expected refusals: five, one in the Peat step, and three in the TPM step where swtpm is installed (else it is skipped). */
const REFUSALS = 6 + (swtpmInstalled() ? 3 : 0);

const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/^\s+at |EPIPE|Error:/m);

describe('ecps demo (built CLI)', () => {
  // The two full runs are the longest tests of the suite; they share nothing, so they run side by side.
  it.concurrent('narrates every step, marks expected refusals apart from failures, and ends with the checks that held', async () => {
    const tmp = privateTmp();
    const r = await ecps(['demo'], { TMPDIR: tmp });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`^demo complete: ${STEPS} steps, \\d+ checks held \\(${REFUSALS} of them expected refusals\\)$`));
    const held = Number(/(\d+) checks held/.exec(lines.at(-1)!)![1]);
    expect(lines.filter((l) => /^ {2}\S.* [✓⊘] /.test(l))).toHaveLength(held);
    expect(r.stdout).not.toMatch(/✗/); // ✗ is for failures only
    expect(r.stdout).toMatch(/controller ⊘ expected refusal: a 16385-byte prompt .*\(PROMPT_TOO_LARGE\)/);
    expect(r.stdout).toMatch(/robot-arm {2}⊘ expected refusal: the forged action .*\(KEY_NOT_FOUND\)/);
    expect(r.stdout).toMatch(/memory {5}⊘ expected refusal: the Put is not stored: "TENSOR_SIZE_MISMATCH/);
    expect(r.stdout).toMatch(/"red cube" similarity 0\.\d{3} /); // rounded for people
    expect(r.stdout).toMatch(/k = 0: up to the default of 10 matches/); // defaults in words
    expect(r.stdout).toMatch(/\.eaplog \(temporary: deleted when the demo ends; --keep-log DIR keeps it\)/);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);

  it.concurrent('--json prints one event per line; --keep-log keeps the action log', async () => {
    const tmp = privateTmp();
    const keep = join(root, 'kept-logs');
    const r = await ecps(['demo', '--json', '--keep-log', keep], { TMPDIR: tmp });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; check?: string });
    expect(events[0]).toMatchObject({ type: 'start', embeddedBroker: true, steps: STEPS, brokerUrl: expect.stringMatching(/^mqtt:/) });
    expect(events.at(-1)).toEqual({ type: 'end', steps: STEPS, checks: expect.any(Number), refusals: REFUSALS });
    expect(events.filter((e) => e.check === 'refused')).toHaveLength(REFUSALS);
    expect(events.filter((e) => e.type === 'step')).toHaveLength(STEPS);
    expect(r.stdout).toMatch(/\(kept: --keep-log\)/);
    expect(readdirSync(keep).filter((f) => f.endsWith('.eaplog'))).toHaveLength(1);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);

  it('ends quietly with exit 0 when its reader goes away (`ecps demo | head -3`), cleaning up', async () => {
    const tmp = privateTmp();
    const demo = startEcps(['demo'], { TMPDIR: tmp });
    await demo.waitForLine(new RegExp(`^\\[1/${STEPS}\\]`));
    demo.child.stdout.destroy(); // what `head` does after its third line
    const r = await demo.exited;
    expect(r.code).toBe(0);
    noStackTrace(r.stderr);
    expect(r.stderr).toBe('');
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);

  it('stops on Ctrl-C with exit 130, saying where, and cleans up', async () => {
    const tmp = privateTmp();
    const demo = startEcps(['demo'], { TMPDIR: tmp });
    await demo.waitForLine(new RegExp(`^\\[4/${STEPS}\\] Trust`)); // the trust step keeps its keystores in a temporary folder
    demo.child.kill('SIGINT');
    const r = await demo.exited;
    expect(r.code).toBe(130);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^demo stopped during step ([4-9]|1[0-2]) after \d+ checks? held$/);
    noStackTrace(r.stderr);
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);

  it('fails at once with exit 1 and a clear message when the broker refuses the connection', async () => {
    const port = await freePort(); // nothing listens there
    const r = await ecps(['demo', '--broker', `mqtt://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `ecps demo: cannot reach the MQTT broker at mqtt://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n` +
        'hint: is the broker running? `ecps broker` starts one; without --broker the demo starts its own\n',
    );
    // the old behaviour retried for 10 s; a refused connection is not retried at all (the margin is for a busy machine)
    expect(r.ms).toBeLessThan(8_000);
  });

  it('gives up after 2 s on a broker that accepts the connection but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const r = await ecps(['demo', '--broker', `mqtt://127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^ecps demo: cannot reach the MQTT broker at mqtt://127\\.0\\.0\\.1:${port}: no answer within 2000 ms\\n`));
      expect(sockets.size).toBe(1); // it did connect: the 2 s are the wait for CONNACK
      expect(r.ms).toBeGreaterThanOrEqual(2_000);
      expect(r.ms).toBeLessThan(9_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
