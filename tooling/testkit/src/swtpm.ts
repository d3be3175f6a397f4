// SPDX-License-Identifier: Apache-2.0
// Launches a real software TPM 2.0 (Debian `swtpm`, libtpms) with its own state folder, on free loopback ports
// (or on a socket pair, as a character device would be), and stops it by process id.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { freePort, waitForPort } from './free-port';

export interface SwtpmHandle {
  readonly host: '127.0.0.1';
  /** The TPM command port (Microsoft simulator framing, as `swtpm socket --server type=tcp` speaks it). */
  readonly port: number;
  /** The control port (power, reset, shutdown): always `port + 1`, as the tss2 `swtpm`/`mssim` TCTIs of tpm2-tools expect. */
  readonly ctrlPort: number;
  /** The current process id (changes on restart). */
  readonly pid: number;
  /** Holds the TPM state (`state/`) and the log. */
  readonly dir: string;
  /** Power cycle: SIGTERM by pid, then start again on the same ports with the same state (PCRs reset, keys stay). */
  restart(): Promise<void>;
  /** SIGTERM by pid, then removes the folder. Idempotent. */
  stop(): Promise<void>;
}

export interface SwtpmCharDevHandle {
  /** Raw TPM command/response stream (what a `/dev/tpm*` character device carries). */
  readonly stream: Duplex;
  readonly pid: number;
  readonly dir: string;
  /** SIGTERM by pid, then removes the folder. Idempotent. */
  stop(): Promise<void>;
}

/** Whether the `swtpm` binary is installed (Debian package `swtpm`). */
export function swtpmAvailable(): boolean {
  try {
    execFileSync('swtpm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child) return;
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const killer = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, 'SIGKILL'), 5_000);
    process.kill(child.pid, 'SIGTERM');
    await exited(child);
    clearTimeout(killer);
  }
}

function makeStateDir(): { dir: string; state: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-swtpm-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  return { dir, state, log: join(dir, 'swtpm.log') };
}

function readLog(log: string): string {
  try {
    return readFileSync(log, 'utf8').trim().slice(-2000);
  } catch {
    return '';
  }
}

/** A free 127.0.0.1 port whose successor is free too (the TCTIs of tpm2-tools find the control port at port + 1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await portIsFree(port + 1))) return port;
    if (attempt >= 50) throw new Error('no two consecutive free loopback ports for swtpm');
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Starts `swtpm socket --tpm2` on two consecutive free 127.0.0.1 ports with a fresh state folder, powered on and started
 * (`--flags not-need-init,startup-clear`). Resolves when the command port accepts connections.
 * @throws Error when swtpm is not installed or exits early (its log is in the message).
 */
export async function startSwtpm(): Promise<SwtpmHandle> {
  const { dir, state, log } = makeStateDir();
  const port = await freePortPair();
  const ctrlPort = port + 1;
  let child: ChildProcess | undefined;
  let stopped = false;
  const launch = async () => {
    child = spawn(
      'swtpm',
      [
        'socket', '--tpm2',
        '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl', `type=tcp,port=${ctrlPort},bindaddr=127.0.0.1`,
        '--tpmstate', `dir=${state}`,
        '--flags', 'not-need-init,startup-clear',
        '--log', `file=${log},level=1`,
      ],
      { stdio: 'ignore' },
    );
    const c = child;
    const failed = new Promise<never>((_, reject) => {
      c.once('error', reject);
      c.once('exit', (code) => reject(new Error(`swtpm exited with ${code}: ${readLog(log)}`)));
    });
    failed.catch(() => undefined);
    await Promise.race([waitForPort(port), failed]);
  };
  try {
    await launch();
  } catch (error) {
    await terminate(child);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host: '127.0.0.1',
    port,
    ctrlPort,
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    restart: async () => {
      await terminate(child);
      await launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `swtpm chardev --tpm2 --fd 3` on one end of a socket pair and returns the other end: the raw framing of a
 * TPM character device (`/dev/tpmrm0`), without the kernel. The TPM is powered on and started.
 */
export async function startSwtpmCharDev(): Promise<SwtpmCharDevHandle> {
  const { dir, state, log } = makeStateDir();
  const child = spawn(
    'swtpm',
    ['chardev', '--tpm2', '--fd', '3', '--tpmstate', `dir=${state}`, '--flags', 'not-need-init,startup-clear', '--log', `file=${log},level=1`],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] },
  );
  const stream = child.stdio[3] as Duplex | null;
  if (!stream || child.pid === undefined) {
    await terminate(child);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`swtpm did not start: ${readLog(log)}`);
  }
  let stopped = false;
  return {
    stream,
    pid: child.pid,
    dir,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      stream.destroy();
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
