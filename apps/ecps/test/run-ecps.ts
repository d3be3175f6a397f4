// SPDX-License-Identifier: Apache-2.0
// The BUILT `ecps` (bin/ecps.js → dist/cli.js) as a child process, as a user runs it: in a temporary working folder
// (so nothing it writes by default lands in the repository), killed when the test file ends if still running.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from '@jest/globals';

const appDir = join(import.meta.dirname, '..');
export const ecpsBin = join(appDir, 'bin', 'ecps.js');
export const repoRoot = join(appDir, '..', '..');

if (!existsSync(join(appDir, 'dist', 'cli.js'))) throw new Error('apps/ecps is not built: run `pnpm --filter @ecps/cli build` first');

const cwd = mkdtempSync(join(tmpdir(), 'ecps-cwd-'));
const children = new Set<ChildProcessWithoutNullStreams>();
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all([...children].map((child) => new Promise((resolve) => child.once('close', resolve))));
  rmSync(cwd, { recursive: true, force: true });
});

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
}

/** A running `ecps`: its process, what it printed so far, and its end. */
export interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout holds a line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<Finished>;
}

export function startEcps(args: string[], env: Record<string, string> = {}): Running {
  const started = Date.now();
  const child = spawn(process.execPath, [ecpsBin, ...args], { env: { ...process.env, ...env, ECPS_DEBUG: '' }, cwd });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiters) w();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Finished>((resolve) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    }),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForLine: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const done = (error?: Error, line?: string): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(line!);
        };
        const check = (): void => {
          const line = stdout.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) done(undefined, line);
        };
        const fail = (why: string) => () => done(new Error(`no line matching ${pattern} (${why}); stdout:\n${stdout}\nstderr:\n${stderr}`));
        const timer = setTimeout(fail(`within ${timeoutMs} ms`), timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          check();
          if (waiters.has(check)) fail('the process ended')();
        });
        check();
      }),
  };
}

/** Runs `ecps <args>` to the end. */
export function ecps(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return startEcps(args, env).exited;
}
