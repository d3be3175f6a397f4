// SPDX-License-Identifier: Apache-2.0
// The router CLI as a real child process (bundled from source by @ecps/testkit).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { bundleEntry } from '@ecps/testkit';

let script: Promise<string> | undefined;
const children = new Set<ChildProcess>();

/** Starts `sw4rm-router <args>` and resolves with its ready line. */
export async function startChild(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number; line: Record<string, unknown> }> {
  script ??= bundleEntry(join(import.meta.dirname, '..', 'src', 'cli.ts'), join(import.meta.dirname, '..'), 'sw4rm-router-cli');
  const child = spawn(process.execPath, [await script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  child.stderr!.resume();
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.once('line', (l) => resolve(JSON.parse(l) as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`router exited early (${code})`)));
  });
  return { child, port: line['port'] as number, line };
}

/** Resolves with the exit code. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** SIGKILLs every child still running (afterAll). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
