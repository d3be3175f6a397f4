// SPDX-License-Identifier: Apache-2.0
// A whole Codex server (real registry, supervisor, credentials, API) in a temp folder on an ephemeral loopback port,
// with one user per role, and a fetch helper that speaks JSON.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Clock } from '@ecps/core';
import { startCodexServer, type CodexServer } from '../src/index';
import type { Role } from '../src/index';

/** Test assertions read JSON of every shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const PASSWORD = 'correct horse battery staple';
export const SECRET = 'test-secret-0123456789abcdef-0123456789';
export const ADMIN_KEY = 'admin-key-for-tests-0123456789abcdefgh';

export interface Harness {
  server: CodexServer;
  dir: string;
  url: string;
  /** Access tokens of `admin`, `operator`, `viewer`, `user` (usernames equal roles) and a second admin `admin2`. */
  tokens: Record<Role | 'admin2', string>;
  /** User ids (the tokens' `sub`). */
  ids: Record<Role | 'admin2', string>;
  call(method: string, path: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: Json; headers: Headers }>;
  /** Writes `bots/<path>` (a Node.js script). */
  writeBot(path: string, source: string): void;
  close(): Promise<void>;
}

export const LOOP_BOT = "setInterval(() => console.log('tick'), 200); process.on('SIGTERM', () => process.exit(0));\n";

/** A server with `env` over the defaults below; `clock` drives the API's time (tokens, WebSocket limits). */
export async function createHarness(env: Record<string, string> = {}, clock?: Clock): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'codex-api-'));
  mkdirSync(join(dir, 'bots'));
  let server: CodexServer;
  try {
    server = await startCodexServer({
      baseDir: dir,
      ...(clock ? { clock } : {}),
      env: {
        API_SECRET_KEY: SECRET,
        ADMIN_API_KEY: ADMIN_KEY,
        PORT: '0',
        BCRYPT_COST: '4',
        BOT_INTERPRETERS: JSON.stringify({ node: process.execPath }),
        BUILDER_INTERPRETER: 'node',
        HEALTH_CHECK_INTERVAL_SEC: '1',
        STOP_GRACE_SEC: '2',
        RESUME_ON_BOOT: 'false',
        CODEX32_INSECURE_COOKIES: 'true',
        ...env,
      },
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const auth = server.api.auth;
  const tokens = {} as Harness['tokens'];
  const ids = {} as Harness['ids'];
  for (const [name, role] of [['admin', 'admin'], ['operator', 'operator'], ['viewer', 'viewer'], ['user', 'user'], ['admin2', 'admin']] as const) {
    // A second server on a shared database finds the users already there.
    const user = (await auth.store.getUser(name)) ?? (await auth.createUser({ username: name, password: PASSWORD, roles: [role] }));
    ids[name] = user.id;
    tokens[name] = (await auth.login(name, PASSWORD, '127.0.0.1')).access_token;
  }
  const url = server.url;
  return {
    server,
    dir,
    url,
    tokens,
    ids,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers['authorization'] = `Bearer ${options.token}`;
      if (options.body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(url + path, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
      });
      const text = await response.text();
      const body: Json = (response.headers.get('content-type') ?? '').includes('application/json') ? JSON.parse(text) : text;
      return { status: response.status, body, headers: response.headers };
    },
    writeBot(path, source) {
      const file = join(dir, 'bots', path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, source);
    },
    async close() {
      try {
        await server.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Polls `check` until it returns a value that is not undefined (up to `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
