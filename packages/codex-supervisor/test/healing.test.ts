// SPDX-License-Identifier: Apache-2.0
// Restart backoff, quarantine and decay on an injected clock; memory kill, CPU warning and health probes with real processes.
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import type { Bot } from '@ecps/codex-registry';
import { createHarness, eventually, IDLE_BOT, type Harness } from './harness';

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.botProcesses()).toEqual([]);
});

const get = (id: string) => h.registry.bots.get(id) as Promise<Bot>;

describe('restart policy (checklist 15)', () => {
  it('backs off 2, 4, 8, 16, 32 s, quarantines on the 6th failure with the exact last_error, and a start clears it', async () => {
    const clock = new ManualClock(Date.now());
    h = await createHarness({ clock });
    const bot = await h.addBot('crash.js', `process.exit(1);`);
    await h.supervisor.start(bot.id);
    const waits: number[] = [];
    for (let failure = 1; failure <= 5; failure++) {
      const failed = await eventually(() => get(bot.id), (b) => b.status === 'failed' && b.next_restart_at !== null && b.failure_count === failure, `failure ${failure}`);
      const wait = Date.parse(failed.next_restart_at!) - clock.now();
      waits.push(wait / 1000);
      clock.advance(wait - 1); // one millisecond early: nothing happens
      await h.supervisor.tick();
      expect((await get(bot.id)).status).toBe('failed');
      clock.advance(1); // due: the restart timer fires (S9), or the next tick applies the due restart
      await h.supervisor.tick();
    }
    expect(waits).toEqual([2, 4, 8, 16, 32]);
    const quarantined = await eventually(() => get(bot.id), (b) => b.status === 'error', 'quarantine');
    expect(quarantined).toMatchObject({ failure_count: 6, last_error: 'Supervisor quarantined bot after 5 failed heal attempts', next_restart_at: null });
    expect(quarantined.quarantined_at).toBe(new Date(clock.now()).toISOString());
    const kinds = (await h.registry.incidents.tail({ bot_id: bot.id })).map((i) => i.kind);
    expect(kinds.filter((k) => k === 'unhealthy')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'restart')).toHaveLength(5);
    expect(kinds.at(-1)).toBe('quarantined');
    clock.advance(3_600_000);
    await h.supervisor.tick();
    expect((await get(bot.id)).status).toBe('error'); // the supervisor leaves a quarantined bot alone
    const restarted = await h.supervisor.start(bot.id); // an operator start clears the quarantine (S2)
    expect(restarted.bot).toMatchObject({ failure_count: 0, quarantined_at: null });
  });

  it('decays the failure counter by one per 300 s of healthy running', async () => {
    const clock = new ManualClock(Date.now());
    h = await createHarness({ clock });
    const bot = await h.addBot('idle.js', IDLE_BOT);
    await h.registry.bots.update(bot.id, (b) => ({ ...b, failure_count: 3 }));
    await h.supervisor.start(bot.id);
    clock.advance(299_000);
    await h.supervisor.tick();
    expect((await get(bot.id)).failure_count).toBe(3);
    clock.advance(1_000);
    await h.supervisor.tick();
    expect((await get(bot.id)).failure_count).toBe(2);
    clock.advance(300_000);
    await h.supervisor.tick();
    expect((await get(bot.id)).failure_count).toBe(1);
  });

  it('restart_policy never leaves a failed bot failed', async () => {
    const clock = new ManualClock(Date.now());
    h = await createHarness({ clock });
    const bot = await h.addBot('once.js', `process.exit(2);`, { deployment_config: { restart_policy: 'never' } });
    await h.supervisor.start(bot.id);
    const failed = await eventually(() => get(bot.id), (b) => b.status === 'failed', 'the failure');
    expect(failed.next_restart_at).toBeNull();
    clock.advance(120_000);
    await h.supervisor.tick();
    expect((await get(bot.id)).status).toBe('failed');
  });
});

describe('resources (checklist 14)', () => {
  it('RSS over 500 MB: killed, incident memory_limit_exceeded, status failed, counted as a failure', async () => {
    h = await createHarness();
    // the timer keeps the buffer in use: left unreferenced, a GC may free it before the supervisor samples the RSS
    const bot = await h.addBot('hog.js', `const b = Buffer.alloc(560 * 1024 * 1024, 1); console.log('allocated', b.length); setInterval(() => b[0]++, 1000);`, {
      deployment_config: { restart_policy: 'never' },
    });
    await h.supervisor.start(bot.id);
    await eventually(() => h.supervisor.readLogs(bot.id), (out) => out.includes('allocated'), 'the allocation');
    await h.supervisor.tick();
    const failed = await eventually(() => get(bot.id), (b) => b.status === 'failed', 'the kill');
    expect(failed.failure_count).toBe(1);
    expect(failed.last_error).toMatch(/^memory_limit_exceeded: RSS \d+(\.\d)? MB is over 500 MB$/);
    const incident = (await h.registry.incidents.tail({ bot_id: bot.id })).find((i) => i.kind === 'memory_limit_exceeded');
    expect((incident?.data as { rss_mb: number }).rss_mb).toBeGreaterThan(500);
  });

  it('CPU over the threshold: cpu_warning (at most one per 5 min) and metrics, but no kill', async () => {
    // the threshold is lowered so a busy loop crosses it even on a shared machine loaded many times over
    h = await createHarness({ config: { cpuThresholdPercent: 2 } });
    const bot = await h.addBot('spin.js', `for (;;) {}`);
    const metrics: number[] = [];
    h.registry.events.subscribe((e) => e.type === 'bot.metrics' && metrics.push(e.data.cpu_load));
    await h.supervisor.start(bot.id);
    for (let i = 0; i < 3; i++) {
      await h.supervisor.tick(); // the first tick only takes the first sample
      await new Promise((r) => setTimeout(r, 500));
    }
    const warnings = (await h.registry.incidents.tail({ bot_id: bot.id })).filter((i) => i.kind === 'cpu_warning');
    expect(warnings).toHaveLength(1);
    expect((warnings[0]!.data as { cpu_percent: number }).cpu_percent).toBeGreaterThan(2);
    expect(metrics).toHaveLength(3);
    expect(Math.max(...metrics)).toBeGreaterThan(2);
    const running = await get(bot.id);
    expect(running.status).toBe('running');
    expect(running.performance.logs.filter((l) => l.event === 'metrics')).toHaveLength(3);
  });
});

describe('health probes', () => {
  it('an HTTP health check that keeps failing: incident health_check_failed, process stopped, status failed', async () => {
    h = await createHarness();
    const { freePort } = await import('@ecps/testkit');
    const port = await freePort();
    const server = `let n = 0; require('node:http').createServer((q, s) => { s.statusCode = ++n > 1 ? 500 : 200; s.end(); }).listen(${port}, '127.0.0.1', () => console.log('listening'));`;
    const bot = await h.addBot('web.js', server, {
      deployment_config: { restart_policy: 'never', health_check: { type: 'http', port, path: '/health', interval_sec: 0.001, failure_threshold: 2 } },
    });
    await h.supervisor.start(bot.id);
    await eventually(() => h.supervisor.readLogs(bot.id), (out) => out.includes('listening'), 'the server');
    await h.supervisor.tick(); // 200
    expect((await get(bot.id)).performance.last_heartbeat).not.toBeNull();
    await h.supervisor.tick(); // 500 (1)
    expect((await get(bot.id)).status).toBe('running');
    await h.supervisor.tick(); // 500 (2): unhealthy
    const failed = await eventually(() => get(bot.id), (b) => b.status === 'failed', 'the health failure');
    expect(failed.last_error).toBe(`health check failed: GET http://127.0.0.1:${port}/health answered 500`);
    expect((await h.registry.incidents.tail({ bot_id: bot.id })).map((i) => i.kind)).toContain('health_check_failed');
  });
});
