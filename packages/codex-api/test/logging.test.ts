// SPDX-License-Identifier: Apache-2.0
// Request logging through a caller's logger: one line per request with the path only, never the query string (a
// browser's WebSocket carries its access token there).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { FastifyBaseLogger } from 'fastify';
import { openRegistry, type Registry } from '@ecps/codex-registry';
import { apiConfigFromEnv, createCodexApi, Deployments, JsonAuthStore, PatchProposals, type CodexApi } from '../src/index';
import { SECRET } from './harness';

/** A pino-shaped logger that keeps every line it is given, with the bindings of its children. */
function collectingLogger(lines: string[], bindings: object = {}): FastifyBaseLogger {
  const write =
    (level: string) =>
    (...args: unknown[]) => {
      lines.push(JSON.stringify({ level, ...bindings, args }));
    };
  return {
    level: 'info',
    fatal: write('fatal'),
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    trace: write('trace'),
    silent: () => undefined,
    child: (more: object) => collectingLogger(lines, { ...bindings, ...more }),
  } as unknown as FastifyBaseLogger;
}

const lines: string[] = [];
let dir: string;
let registry: Registry;
let api: CodexApi;
let url: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'codex-log-'));
  const config = { ...apiConfigFromEnv({ API_SECRET_KEY: SECRET, BCRYPT_COST: '4' }, dir), port: 0 };
  registry = await openRegistry({ backend: 'json', file: join(dir, 'registry.json') });
  api = await createCodexApi({
    config,
    registry,
    deployments: new Deployments([]),
    authStore: await JsonAuthStore.open(join(dir, 'auth.json')),
    patches: await PatchProposals.open(join(dir, 'patches.json')),
    botsDirectory: join(dir, 'bots'),
    logger: collectingLogger(lines),
  });
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await api?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('logs each request with its path and status, and never its query string', async () => {
  const secret = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl';
  expect((await fetch(`${url}/api/v1/bots?token=${secret}&limit=5`)).status).toBe(401);
  expect((await fetch(`${url}/ws/updates?token=${secret}`)).status).toBe(401);
  expect((await fetch(`${url}/health`)).status).toBe(200);
  const logged = lines.join('\n');
  expect(logged).not.toContain(secret);
  expect(logged).not.toContain('limit=5');
  expect(logged).toContain('/api/v1/bots');
  expect(logged).toContain('/health');
});
