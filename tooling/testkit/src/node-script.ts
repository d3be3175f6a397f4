// SPDX-License-Identifier: Apache-2.0
// Runs a TypeScript entry point as a separate Node process (for multi-process tests and benchmarks): bundles it
// with esbuild, resolving `@ecps/*` to the workspace sources like the Jest preset, and stops it by process id.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { workspaceRoot, workspaceSources } from './workspace-sources';

const bundles = new Map<string, Promise<string>>();

/**
 * Bundles `entry` (a .ts file) into one CommonJS file under `node_modules/.cache/ecps-testkit/scripts/` of the
 * repository (a cache, not a temporary file: a test process that is killed leaves nothing in TMPDIR); cached per entry.
 */
export function bundleScript(entry: string): Promise<string> {
  let p = bundles.get(entry);
  if (!p) {
    p = (async () => {
      const outDir = join(workspaceRoot, 'node_modules', '.cache', 'ecps-testkit', 'scripts');
      mkdirSync(outDir, { recursive: true });
      const outfile = join(outDir, `${basename(entry, '.ts')}-${createHash('sha256').update(entry).digest('hex').slice(0, 12)}.cjs`);
      // written aside and renamed, so that a process bundling the same entry at the same time never runs a half file
      const partial = `${outfile}.${process.pid}.partial`;
      const sources = workspaceSources();
      await build({
        entryPoints: [entry],
        outfile: partial,
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        logLevel: 'silent',
        plugins: [
          {
            name: 'ecps-workspace',
            setup(b) {
              b.onResolve({ filter: /^@ecps\// }, (args) => {
                const path = sources.get(args.path);
                return path ? { path } : undefined;
              });
            },
          },
        ],
      });
      renameSync(partial, outfile);
      return outfile;
    })();
    bundles.set(entry, p);
  }
  return p;
}

export interface NodeScriptHandle {
  readonly pid: number;
  /** Resolves with the first stdout line `predicate` accepts; rejects when the process exits first or after `timeoutMs`. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Resolves with the exit code (null when a signal ended it) once the process is gone. */
  readonly exited: Promise<number | null>;
  /** SIGKILL; resolves when the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s; idempotent. */
  stop(): Promise<void>;
}

/** Starts `entry` (TypeScript) in its own Node process with `args`; stdout is read line by line, stderr inherited. */
export async function startNodeScript(entry: string, args: readonly string[] = [], env: Record<string, string> = {}): Promise<NodeScriptHandle> {
  const file = await bundleScript(entry);
  return startProcess(process.execPath, [file, ...args], env);
}

/** Starts any program with `args` (environment: this one plus `env`); stdout is read line by line, stderr inherited. */
export function startProcess(command: string, args: readonly string[] = [], env: Record<string, string> = {}): NodeScriptHandle {
  const child: ChildProcess = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const waiters = new Set<{ predicate: (l: string) => boolean; resolve: (l: string) => void }>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters) if (w.predicate(line)) {
      waiters.delete(w);
      w.resolve(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
  const signal = async (sig: NodeJS.Signals) => {
    if (!gone()) process.kill(child.pid!, sig);
    await exited;
  };
  return {
    pid: child.pid ?? -1,
    lines,
    exited,
    waitForLine(predicate, timeoutMs = 15_000) {
      const seen = lines.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const w = { predicate, resolve: (l: string) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`process ${child.pid} printed no matching line within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(w);
        void exited.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`process ${child.pid} exited (${child.exitCode ?? child.signalCode}) before printing a matching line`));
        });
      });
    },
    kill9: () => signal('SIGKILL'),
    async stop() {
      if (gone()) return;
      const t = setTimeout(() => void signal('SIGKILL'), 3_000);
      await signal('SIGTERM');
      clearTimeout(t);
    },
  };
}
