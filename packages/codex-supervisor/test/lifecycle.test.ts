// SPDX-License-Identifier: Apache-2.0
// Starting, exits, stopping, shutdown without orphans, and start-up reconciliation, with real processes.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '@ecps/testkit';
import { applyBotEvent, isCodexError, processStartTime, type CodexEvent } from '@ecps/codex-registry';
import { launchBot, RECONCILED_ERROR } from '../src/index';
import { processGroupMembers } from '../src/proc';
import { createHarness, eventually, IDLE_BOT, STUBBORN_BOT, type Harness } from './harness';

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.botProcesses()).toEqual([]);
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('supervisor lifecycle', () => {
  it('checklist 12: a child exit is reflected in its status at once, without waiting for a tick', async () => {
    // The harness never starts the tick loop, so only the child's exit event can record the failure (no timer
    // assertion: on a loaded machine a fixed bound would measure the machine, not the supervisor).
    h = await createHarness();
    const bot = await h.addBot('crash.js', `setTimeout(() => process.exit(3), 300);`, {
      deployment_config: { restart_policy: 'never' },
    });
    const transitions: string[] = [];
    h.registry.events.subscribe((e: CodexEvent) => e.type === 'bot.status' && transitions.push(`${e.data.from}->${e.data.to}`));
    const started = await h.supervisor.start(bot.id);
    expect(started).toMatchObject({ status: 'ok', bot: { status: 'running', desired_state: 'running' } });
    expect(started.bot.process_id).toBeGreaterThan(0);
    expect(started.bot.process_started_at).toBe(await processStartTime(started.bot.process_id!));
    await waitFor(() => transitions.includes('running->failed'), 'the failure', 15_000);
    const failed = (await h.registry.bots.get(bot.id))!;
    expect(failed).toMatchObject({ status: 'failed', exit_code: 3, last_error: 'exited with code 3', failure_count: 1, error_count: 1, process_id: null });
    expect(transitions).toEqual(['created->deploying', 'deploying->running', 'running->failed']);
    const kinds = await eventually(async () => (await h.registry.incidents.tail({ bot_id: bot.id })).map((i) => i.kind), (k) => k.length > 0, 'the incident');
    expect(kinds).toEqual(['exited']);
  });

  it('checklist 5 and 16: start twice is already_running; stop sends SIGTERM, SIGKILL after 5 s, and grandchildren die too', async () => {
    h = await createHarness();
    const bot = await h.addBot('stubborn.js', STUBBORN_BOT);
    const { bot: running } = await h.supervisor.start(bot.id);
    expect((await h.supervisor.start(bot.id)).status).toBe('already_running');
    const pgid = running.process_id!;
    await waitFor(() => h.botProcesses().length === 3, 'the bot, its shell and its sleep', 20_000); // node, sh, sleep
    const begun = Date.now();
    const stopped = await h.supervisor.stop(bot.id, 'operator request');
    const took = Date.now() - begun;
    expect(took).toBeGreaterThanOrEqual(4_900); // SIGTERM was ignored: the grace period ran out
    expect(stopped).toMatchObject({ status: 'ok', bot: { status: 'stopped', desired_state: 'stopped', exit_code: 137 } });
    expect(stopped.bot.performance.logs.at(-1)).toMatchObject({ event: 'stopped', reason: 'operator request' });
    expect(await processGroupMembers(pgid)).toEqual([]);
    expect(h.botProcesses()).toEqual([]);
    expect((await h.supervisor.stop(bot.id)).status).toBe('not_running');
  });

  it('checklist 16: a bot that exits on SIGTERM stops at once and its grandchild dies with it; stop on a never-started bot is not_running and changes nothing', async () => {
    h = await createHarness();
    // the bot itself exits on SIGTERM at once, but leaves a grandchild that ignores it
    const polite = await h.addBot('polite.js', `require('node:child_process').spawn('/bin/sh', ['-c', 'trap "" TERM; sleep 600'], { stdio: 'ignore' }); ${IDLE_BOT}`);
    const idle = await h.addBot('idle.js', IDLE_BOT);
    await h.supervisor.start(polite.id);
    await waitFor(() => h.botProcesses().length === 3, 'the bot and its descendants', 20_000);
    const begun = Date.now();
    const { bot } = await h.supervisor.stop(polite.id);
    expect(Date.now() - begun).toBeLessThan(4_000);
    expect(bot).toMatchObject({ status: 'stopped', exit_code: 143 });
    expect(h.botProcesses()).toEqual([]); // the final group SIGKILL took the grandchild too
    expect(await h.supervisor.stop(idle.id)).toMatchObject({ status: 'not_running', bot: { status: 'created', revision: 1 } });
  });

  it('checklist 16: shutdown stops every child in parallel, keeps desired_state, and leaves no orphan (process-group scan)', async () => {
    h = await createHarness({ config: { stopGraceSec: 1 } });
    const ids: string[] = [];
    for (const name of ['a.js', 'b.js', 'c.js']) ids.push((await h.addBot(name, STUBBORN_BOT)).id);
    const pgids = await Promise.all(ids.map(async (id) => (await h.supervisor.start(id)).bot.process_id!));
    await waitFor(() => h.botProcesses().length === 9, 'three bots with two descendants each', 20_000);
    await h.supervisor.shutdown();
    for (const pgid of pgids) expect(await processGroupMembers(pgid)).toEqual([]);
    expect(h.botProcesses()).toEqual([]);
    for (const id of ids) expect(await h.registry.bots.get(id)).toMatchObject({ status: 'stopped', desired_state: 'running' });
    expect(isCodexError(await h.supervisor.start(ids[0]!).catch((e: unknown) => e), 'closed')).toBe(true);
  });

  it('checklist 17: a bot recorded as running with no process gets an incident from one tick()', async () => {
    h = await createHarness();
    const bot = await h.addBot('ghost.js', IDLE_BOT, { deployment_config: { restart_policy: 'never' } });
    const dead = spawn('/bin/true');
    await new Promise((r) => dead.once('exit', r));
    await h.registry.bots.update(bot.id, (b) =>
      applyBotEvent(applyBotEvent(b, { type: 'start' }, Date.now()), { type: 'spawned', pid: dead.pid!, startedAt: 1 }, Date.now()),
    );
    await h.supervisor.tick();
    expect((await h.registry.incidents.tail({ bot_id: bot.id })).length).toBeGreaterThanOrEqual(1);
    expect(await h.registry.bots.get(bot.id)).toMatchObject({ status: 'failed', last_error: 'process not running: no supervised child for this bot' });
  });

  it('checklist 11: reconciliation — dead pid → stopped + incident; reused pid never signalled; our orphan killed; resume on boot', async () => {
    h = await createHarness({ config: { stopGraceSec: 1 } });
    const ghost = await h.addBot('ghost.js', IDLE_BOT);
    const reused = await h.addBot('reused.js', IDLE_BOT);
    const orphaned = await h.addBot('orphan.js', STUBBORN_BOT);
    // a previous server launched `orphan.js` and died without stopping it: nobody watches this process
    const orphan = await launchBot(orphaned, h.supervisor.config);
    const orphanPid = orphan.pid;
    await waitFor(() => h.botProcesses().length === 3, 'the orphan and its descendants', 20_000);
    // an unrelated process now holds a pid the registry remembers, with another start time
    const stranger = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => stranger.once('spawn', r));
    const strangerStart = (await processStartTime(stranger.pid!))!;
    const dead = spawn('/bin/true');
    await new Promise((r) => dead.once('exit', r));
    const run = (pid: number, startedAt: number) => (b: Parameters<typeof applyBotEvent>[0]) =>
      applyBotEvent(applyBotEvent(b, { type: 'start' }, Date.now()), { type: 'spawned', pid, startedAt }, Date.now());
    await h.registry.bots.update(ghost.id, run(dead.pid!, 12345));
    await h.registry.bots.update(orphaned.id, run(orphanPid, orphan.startTime!));
    await h.registry.bots.update(reused.id, (b) => ({ ...run(stranger.pid!, strangerStart + 1)(b), desired_state: 'stopped' }));
    try {
      const report = await h.supervisor.reconcile();
      expect(report.killed).toEqual([orphanPid]);
      expect(report.pidReused).toEqual([stranger.pid]);
      expect(report.reconciled.sort()).toEqual([ghost.id, orphaned.id, reused.id].sort());
      expect(alive(stranger.pid!)).toBe(true); // never signalled
      expect(await processGroupMembers(orphanPid)).toEqual([]); // the orphan and its grandchildren are gone
      expect(await h.registry.bots.get(reused.id)).toMatchObject({ status: 'stopped', last_error: RECONCILED_ERROR, process_id: null });
      expect(report.resumed.sort()).toEqual([ghost.id, orphaned.id].sort()); // desired_state running, RESUME_ON_BOOT
      for (const id of report.resumed) expect(await h.registry.bots.get(id)).toMatchObject({ status: 'running', failure_count: 0 });
      const kinds = (await h.registry.incidents.tail()).filter((i) => i.kind === 'reconciled').map((i) => i.bot_id);
      expect(kinds.sort()).toEqual([ghost.id, orphaned.id, reused.id].sort());
    } finally {
      stranger.kill('SIGKILL');
    }
  });
});
