// SPDX-License-Identifier: Apache-2.0
// A registry, a bots directory and a supervisor in a temp folder, plus the orphan scan every test ends with.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Clock } from '@ecps/core';
import { cryptoRandom, toHex } from '@ecps/core';
import { newBot, openRegistry, type Bot, type Registry, type RegistryOptions } from '@ecps/codex-registry';
import { Supervisor, type SupervisorConfig, type SupervisorOptions } from '../src/index';

export interface Harness {
  dir: string;
  registry: Registry;
  supervisor: Supervisor;
  /** A unique prefix of this harness's bot ids, carried in every bot's CODEX32_BOT_ID. */
  prefix: string;
  /** Writes `bots/<name>` and registers a bot running it. */
  addBot(name: string, source: string, extra?: Record<string, unknown>): Promise<Bot>;
  /** Pids of live processes (anywhere on this machine) that carry one of our bot ids in their environment. */
  botProcesses(): number[];
  close(): Promise<void>;
}

export const NODE = process.execPath;

export async function createHarness(
  options: { config?: Partial<SupervisorConfig>; clock?: Clock; registry?: (dir: string) => RegistryOptions; supervisor?: Partial<SupervisorOptions> } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'codex-sup-'));
  chmodSync(dir, 0o755); // sandboxed bots run as another uid and must reach their blueprints
  const bots = join(dir, 'bots');
  mkdirSync(bots, { mode: 0o755 });
  const registry = await openRegistry(options.registry?.(dir) ?? { backend: 'json', file: join(dir, 'registry.json'), ...(options.clock ? { clock: options.clock } : {}) });
  const supervisor = await Supervisor.create({
    store: registry.bots,
    incidents: registry.incidents,
    ...(options.clock ? { clock: options.clock } : {}),
    config: {
      botsDirectory: bots,
      logDir: join(dir, 'logs'),
      sandboxRoot: join(dir, 'sandbox'),
      interpreters: { node: NODE, sh: '/bin/sh' },
      ...options.config,
    },
    ...options.supervisor,
  });
  const prefix = `t${toHex(cryptoRandom.bytes(3))}`;
  return {
    dir,
    registry,
    supervisor,
    prefix,
    async addBot(name, source, extra = {}) {
      const file = join(bots, name);
      mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
      writeFileSync(file, source, { mode: 0o644 });
      const id = `${prefix}-${name.replace(/[^a-z0-9]/g, '-')}`.slice(0, 64);
      const interpreter = name.endsWith('.sh') ? 'sh' : 'node';
      const { deployment_config, ...rest } = extra as { deployment_config?: Record<string, unknown> };
      return registry.bots.create(newBot({ id, name: id, blueprint: name, deployment_config: { interpreter, ...deployment_config }, ...rest }, Date.now()));
    },
    botProcesses() {
      const found: number[] = [];
      for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith(`CODEX32_BOT_ID=${prefix}-`))) {
            const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
            if (state !== 'Z') found.push(Number(pid));
          }
        } catch {
          // gone, or not ours to read
        }
      }
      return found;
    },
    async close() {
      await supervisor.shutdown();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `read` until `accept` takes its value (20 s at most: the machine may be loaded); returns that value. */
export async function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Node source of a bot that ignores SIGTERM and starts a grandchild (a shell that ignores it too). */
export const STUBBORN_BOT = `
process.on('SIGTERM', () => {});
require('node:child_process').spawn('/bin/sh', ['-c', 'trap "" TERM; sleep 600'], { stdio: 'ignore' });
setInterval(() => {}, 1000);
`;

/** Node source of a bot that runs until told to stop. */
export const IDLE_BOT = `setInterval(() => {}, 1000);`;
