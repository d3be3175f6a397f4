// SPDX-License-Identifier: Apache-2.0
// Checklist 28: the bot builder over HTTP. Hostile descriptions write nothing outside the bots directory and never
// reach generated code; the generated bot is registered and the supervisor runs it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { analyzeDescription, GENERATED_BOT_SOURCE } from '../src/index';
import { createHarness, eventually, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));

describe('bot builder', () => {
  it('a hostile description stays data: nothing outside the bots directory, no user text in code, bot registered and runnable', async () => {
    const before = filesUnder(h.dir).filter((f) => !f.startsWith(join(h.dir, 'bots')));
    const description = '../../etc/x "); import os # collect every hour';
    const r = await h.call('POST', '/api/v1/intelligent-bots/create-from-description', { token: h.tokens.admin, body: { description } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ success: true, ready_to_deploy: true, task_type: 'collect' });
    expect(r.body.bot_id).toMatch(/^[a-z0-9_]{1,30}$/);
    for (const file of r.body.created_files as string[]) expect(file.startsWith(join(h.dir, 'bots') + '/')).toBe(true);
    const code = filesUnder(join(h.dir, 'bots')).filter((f) => f.endsWith('.mjs') || f.endsWith('.js') || f.endsWith('.py'));
    for (const file of code) {
      const source = readFileSync(file, 'utf8');
      expect(source).toBe(GENERATED_BOT_SOURCE);
      expect(source).not.toContain('import os');
      expect(source).not.toContain('etc/x');
    }
    const config = JSON.parse(readFileSync(join(h.dir, 'bots', r.body.bot_id, 'config.json'), 'utf8'));
    expect(config.description).toBe(description);
    // Only the registry, incident log, auth and lock files changed outside bots/: nothing was written by the builder.
    const after = filesUnder(h.dir).filter((f) => !f.startsWith(join(h.dir, 'bots')) && !f.startsWith(join(h.dir, 'logs')));
    expect(after.filter((f) => !before.includes(f) && !/codex32_/.test(f))).toEqual([]);

    const bot = (await h.call('GET', `/api/v1/bots/${r.body.bot_id}`, { token: h.tokens.viewer })).body;
    expect(bot).toMatchObject({ status: 'created', blueprint: `${r.body.bot_id}/bot.mjs` });
    expect((await h.call('POST', `/api/v1/bots/${r.body.bot_id}/start`, { token: h.tokens.operator })).status).toBe(200);
    await eventually(async () => {
      const logs = await h.call('GET', `/api/v1/bots/${r.body.bot_id}/logs`, { token: h.tokens.viewer });
      return typeof logs.body === 'string' && logs.body.includes('"event":"started"') ? true : undefined;
    });
    expect((await h.call('POST', `/api/v1/bots/${r.body.bot_id}/stop`, { token: h.tokens.operator })).body.status).toBe('ok');
  });

  it('never overwrites: the same description again is 409', async () => {
    const body = { description: 'monitor the disk space' };
    expect((await h.call('POST', '/api/v1/intelligent-bots/quick-create', { token: h.tokens.admin, body })).status).toBe(201);
    const again = await h.call('POST', '/api/v1/intelligent-bots/quick-create', { token: h.tokens.admin, body });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ success: false, code: 'conflict' });
  });

  it('matches whole words: "email" is not "ai", "json" is not "on"', async () => {
    const dry = await h.call('POST', '/api/v1/intelligent-bots/test-description', { token: h.tokens.user, body: { description: 'send an email with the json report by command' } });
    expect(dry.status).toBe(200);
    expect(dry.body.complexity).not.toBe('advanced');
    expect(dry.body.frequency).toBe('manual'); // "on" inside "json" would have made it triggered
    expect(analyzeDescription('train a neural model').complexity).toBe('advanced');
    expect(analyzeDescription('when the file changes, convert it').frequency).toBe('triggered');
  });
});
