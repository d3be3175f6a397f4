// SPDX-License-Identifier: Apache-2.0
// Output capture: files, never pipes, so a chatty bot cannot stall; rotation keeps .1 to .5.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Bot } from '@ecps/codex-registry';
import { createHarness, eventually, type Harness } from './harness';

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.botProcesses()).toEqual([]);
});

describe('output (checklist 13)', () => {
  it('a bot writing 10 MB to stdout neither blocks nor deadlocks, and logs rotate at the size limit keeping .1 to .5', async () => {
    h = await createHarness({ config: { logMaxBytes: 1024 * 1024, logBackups: 5 } });
    // 10 MB in one go (a pipe nobody reads would block it after 64 KiB), then 1.1 MB bursts until stopped
    const chatty = `
      const line = 'x'.repeat(1023) + '\\n';
      process.stdout.write(line.repeat(10 * 1024));
      process.stderr.write('wrote 10 MB\\n');
      setInterval(() => process.stdout.write(line.repeat(1100)), 100);
    `;
    const bot = await h.addBot('chatty.js', chatty);
    await h.supervisor.start(bot.id);
    await eventually(() => h.supervisor.readLogs(bot.id, 'stderr'), (o) => o.includes('wrote 10 MB'), 'the 10 MB write');
    const stdout = join(h.dir, 'logs', bot.id, 'stdout.log');
    expect(statSync(stdout).size).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    const tail = await h.supervisor.readLogs(bot.id, 'stdout', 4096);
    expect(tail.length).toBe(4096); // the tail only, read at an offset
    for (let i = 0; i < 7; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await h.supervisor.tick();
    }
    for (let i = 1; i <= 5; i++) expect(existsSync(`${stdout}.${i}`)).toBe(true);
    expect(existsSync(`${stdout}.6`)).toBe(false);
    expect(statSync(`${stdout}.5`).size).toBeGreaterThan(1024 * 1024);
    expect(((await h.registry.bots.get(bot.id)) as Bot).status).toBe('running'); // it kept writing throughout
  });
});
