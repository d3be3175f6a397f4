// SPDX-License-Identifier: Apache-2.0
// `ecps codex bots …` as real processes, on the JSON file and on PostgreSQL.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleScript, startPostgres } from '@ecps/testkit';

let cli: string;
let dir: string;
beforeAll(async () => {
  cli = await bundleScript(join(import.meta.dirname, 'fixtures', 'codex-cli.ts'));
});
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function setup(): Record<string, string> {
  dir = mkdtempSync(join(tmpdir(), 'ecps-codex-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'bots'));
  writeFileSync(join(dir, 'bots', 'hello.js'), `console.log('hello from', process.env.CODEX32_BOT_ID); setInterval(() => {}, 1000);`);
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    REGISTRY_FILE: join(dir, 'registry.json'),
    BOTS_DIRECTORY: join(dir, 'bots'),
    BOT_LOG_DIR: join(dir, 'logs'),
    BOT_INTERPRETERS: JSON.stringify({ node: process.execPath }),
  };
}

function ecps(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, 'codex', ...args], { env, cwd: dir }, (_error, out, err) => resolve({ code: child.exitCode, out, err }));
  });
}

describe('ecps codex bots', () => {
  it("offers the registry's statuses, roles and incident kinds (the command keeps its own copy so as not to load the registry for --help)", async () => {
    const { CODEX_CHOICES } = await import('../src/commands/codex');
    const registry = await import('@ecps/codex-registry');
    expect(CODEX_CHOICES).toEqual({ statuses: registry.BOT_STATUSES, roles: registry.BOT_ROLES, incidentKinds: registry.INCIDENT_KINDS });
  });

  it('adds, lists, runs in the foreground until SIGTERM, shows logs and incidents; a second instance on the file exits 75', async () => {
    const env = setup();
    expect((await ecps(env, 'bots', 'list')).out).toContain('no bots yet');
    expect(await ecps(env, 'bots', 'add', 'hello', '--blueprint', 'hello.js', '--interpreter', 'node', '--role', 'collector')).toMatchObject({ code: 0 });
    const bad = await ecps(env, 'bots', 'add', 'Bad Id!', '--blueprint', '../x.js');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('invalid bot');

    const runner = spawn(process.execPath, [cli, 'codex', 'bots', 'start', 'hello'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const exited = new Promise<number | null>((r) => runner.once('exit', (code) => r(code)));
    await new Promise<void>((ready) => createInterface({ input: runner.stdout! }).on('line', (line) => (lines.push(line), line.startsWith('supervising') && ready())));
    expect(lines).toContain('hello: created -> deploying');
    expect(lines).toContain('hello: deploying -> running');

    const locked = await ecps(env, 'bots', 'list');
    expect(locked).toMatchObject({ code: 75, err: `registry locked by pid ${runner.pid}\n` });

    runner.kill('SIGTERM');
    expect(await exited).toBe(0);
    const listed = JSON.parse((await ecps(env, 'bots', 'list', '--json')).out) as { bots: { id: string; status: string; desired_state: string; process_id: number | null }[] };
    expect(listed.bots).toEqual([expect.objectContaining({ id: 'hello', status: 'stopped', desired_state: 'running', process_id: null })]);
    expect((await ecps(env, 'bots', 'logs', 'hello')).out).toBe('hello from hello\n');
    const logs = JSON.parse((await ecps(env, 'bots', 'logs', 'hello', '--json')).out) as Record<string, unknown>;
    expect(logs).toEqual({ id: 'hello', stream: 'stdout', file: join(dir, 'logs', 'hello', 'stdout.log'), text: 'hello from hello\n' });
    expect((await ecps(env, 'bots', 'list', '--status', 'running', '--json')).out).toContain('"total":0');
    expect((await ecps(env, 'bots', 'incidents')).out).toBe('');
    expect((await ecps(env, 'bots', 'stop', 'hello')).out).toBe('hello: not running (stopped)\n');
    expect(JSON.parse((await ecps(env, 'bots', 'stop', 'hello', '--json')).out)).toEqual({ id: 'hello', stopped: false, status: 'stopped' });

    // the same foreground run as JSON lines
    const json = spawn(process.execPath, [cli, 'codex', 'bots', 'start', 'hello', '--json'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    const jsonExited = new Promise<number | null>((r) => json.once('exit', (code) => r(code)));
    const objects: Record<string, unknown>[] = [];
    await new Promise<void>((ready) =>
      createInterface({ input: json.stdout! }).on('line', (line) => {
        objects.push(JSON.parse(line) as Record<string, unknown>);
        if (objects.some((o) => o['supervising'] === true) && objects.some((o) => o['type'] === 'bot.status' && (o['data'] as { to?: string }).to === 'running')) ready();
      }),
    );
    expect(objects).toEqual(expect.arrayContaining([{ id: 'hello', started: true, pid: expect.any(Number) }, { supervising: true }]));
    json.kill('SIGTERM');
    expect(await jsonExited).toBe(0);
  }, 120_000);

  it('works against PostgreSQL with --database-url', async () => {
    const env = setup();
    const pg = await startPostgres();
    try {
      const url = await pg.createDatabase('cli');
      expect((await ecps(env, '--database-url', url, 'bots', 'add', 'pg-bot', '--blueprint', 'hello.js', '--interpreter', 'node')).code).toBe(0);
      const listed = JSON.parse((await ecps(env, '--database-url', url, 'bots', 'list', '--json')).out) as { total: number; stats: { total_bots: number } };
      expect(listed).toMatchObject({ total: 1, stats: { total_bots: 1 } });
      expect((await ecps(env, 'bots', 'list')).out).toContain('no bots yet'); // the JSON file is another registry
    } finally {
      await pg.stop();
    }
  }, 60_000);
});
