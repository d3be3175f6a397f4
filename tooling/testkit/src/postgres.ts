// SPDX-License-Identifier: Apache-2.0
// Launches a real PostgreSQL (Debian `postgresql`): a fresh cluster made by initdb in a temp folder, served on a free
// loopback port, stopped by process id. As root, initdb and postgres run as the unprivileged test account.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port';
import { unprivilegedUser } from './unprivileged-user';

const run = promisify(execFile);

export interface PostgresHandle {
  /** `postgres://ecps@127.0.0.1:<port>/postgres` (trust authentication on loopback). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown (SIGINT), SIGKILL after 5 s, then removes the cluster directory. Idempotent. */
  stop(): Promise<void>;
}

/** The newest `/usr/lib/postgresql/<version>/bin` that has initdb (Debian's layout), else PATH. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

/**
 * Starts a throwaway PostgreSQL cluster on 127.0.0.1 (durability settings off: it is for tests). Resolves when it
 * accepts connections. Throws when PostgreSQL is not installed (`tooling/scripts/setup.sh` installs it).
 */
export async function startPostgres(): Promise<PostgresHandle> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (Debian package postgresql); run tooling/scripts/setup.sh');
  const user = unprivilegedUser();
  const prefix = user?.prefix ?? [];
  const as = (program: string, args: string[]) => [...prefix, join(bin, program), ...args] as [string, ...string[]];
  const dir = mkdtempSync(join(tmpdir(), 'ecps-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };

  let child: ChildProcess | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const c = child;
    if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      await new Promise<void>((resolve) => {
        const killer = setTimeout(() => c.pid !== undefined && process.kill(c.pid, 'SIGKILL'), 5_000);
        c.once('exit', () => {
          clearTimeout(killer);
          resolve();
        });
        process.kill(c.pid!, 'SIGINT');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [initdb, ...initArgs] = as('initdb', ['-D', data, '-U', 'ecps', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await run(initdb, initArgs, { env });
    const [postgres, ...args] = as('postgres', [
      '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
    ]);
    child = spawn(postgres, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < 8192) stderr += chunk.toString();
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited early: ${stderr.trim()}`);
      const ready = await run(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'ecps', '-d', 'postgres'], { env }).then(() => true, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections on port ${port}: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const base = `postgres://ecps@127.0.0.1:${port}`;
  return {
    url: `${base}/postgres`,
    port,
    pid: child.pid!,
    dir,
    async createDatabase(name) {
      await run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'ecps', name], { env });
      return `${base}/${name}`;
    },
    stop,
  };
}
