// SPDX-License-Identifier: Apache-2.0
// `ecps codex serve` as a real process: refuses unsafe secrets, serves the API and the dashboard with a bootstrap admin
// from `ecps codex hash-password`, and a SIGTERM stops every bot it runs.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, expect, it } from '@jest/globals';
import { bundleScript } from '@ecps/testkit';

let cli: string;
let dir: string;
beforeAll(async () => {
  cli = await bundleScript(join(import.meta.dirname, 'fixtures', 'codex-cli.ts'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const PASSWORD = 'a long enough password';

function ecps(env: Record<string, string>, args: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, 'codex', ...args], { env, cwd: dir }, (_error, out, err) => resolve({ code: child.exitCode, out, err }));
    child.stdin?.end(input ?? '');
  });
}

it('serves the API and dashboard; SIGTERM stops every bot; placeholder secrets exit 2', async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecps-codex-serve-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'bots'));
  writeFileSync(join(dir, 'bots', 'loop.js'), 'setInterval(() => {}, 1000);');
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    PORT: '0',
    BOT_INTERPRETERS: JSON.stringify({ node: process.execPath }),
    API_SECRET_KEY: 'CHANGE_THIS_IN_PRODUCTION',
    // The bundled test CLI does not sit beside the package's dashboard folder.
    CODEX32_DASHBOARD_DIR: join(import.meta.dirname, '..', '..', '..', 'packages', 'codex-api', 'dashboard'),
  };
  const refused = await ecps(env, ['serve']);
  expect(refused.code).toBe(2);
  expect(refused.err).toContain('API_SECRET_KEY');

  const hashed = await ecps(env, ['hash-password', 'root'], `${PASSWORD}\n`);
  expect(hashed.code).toBe(0);
  const [name, value] = hashed.out.trim().split(/=(.*)/s) as [string, string];
  expect(name).toBe('CODEX32_BOOTSTRAP_ADMIN');
  env['CODEX32_BOOTSTRAP_ADMIN'] = value;
  env['API_SECRET_KEY'] = 'x'.repeat(40);

  const server = spawn(process.execPath, [cli, 'codex', 'serve'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
  const url = await Promise.race([
    new Promise<string>((ready) =>
      createInterface({ input: server.stdout! }).on('line', (line) => {
        const m = /^Codex API listening on (http:\/\/\S+)$/.exec(line);
        if (m) ready(m[1]!);
      }),
    ),
    exited.then((code) => Promise.reject(new Error(`ecps codex serve exited with ${code}`))),
  ]);
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (response.headers.get('content-type') ?? '').includes('json') ? ((await response.json()) as Record<string, unknown>) : await response.text() };
  };
  expect((await call('GET', '/api/v1/dashboard')).body).toContain('Codex-32 Dashboard');
  const login = await call('POST', '/api/v1/auth/login', undefined, { username: 'root', password: PASSWORD });
  const token = (login.body as { access_token: string }).access_token;
  expect((await call('POST', '/api/v1/bots', token, { id: 'loop', name: 'Loop', blueprint: 'loop.js', deployment_config: { interpreter: 'node' } })).status).toBe(201);
  expect((await call('POST', '/api/v1/bots/loop/start', token)).status).toBe(200);
  const pid = ((await call('GET', '/api/v1/bots/loop', token)).body as { process_id: number }).process_id;
  expect(() => process.kill(pid, 0)).not.toThrow();

  server.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(() => process.kill(pid, 0)).toThrow();
}, 60_000);
