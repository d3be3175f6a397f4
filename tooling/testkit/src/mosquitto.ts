// SPDX-License-Identifier: Apache-2.0
// Launches a real Mosquitto on a free loopback port with a generated config; stops it by process id.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port';

export interface MosquittoOptions {
  /** Keep sessions and queued QoS 1/2 messages on disk (autosaved every second), so they survive a restart. */
  persistence?: boolean;
  /** Extra config lines appended verbatim. */
  extraConfig?: string[];
}

export interface MosquittoHandle {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The current process id (changes on restart). */
  readonly pid: number;
  /** The directory holding the config, the log and the persistence files. */
  readonly dir: string;
  /** SIGKILL, no chance to save anything; resolves when the process is gone. */
  kill9(): Promise<void>;
  /** Starts Mosquitto again on the same port with the same config (and persistence directory). */
  restart(): Promise<void>;
  /** SIGTERM (Mosquitto saves its persistence file), then removes the directory. Idempotent. */
  stop(): Promise<void>;
}

function mosquittoBinary(): string {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto']) {
    if (existsSync(candidate)) return candidate;
  }
  return 'mosquitto';
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts Mosquitto bound to 127.0.0.1 only, anonymous access, on a free port. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-mosquitto-'));
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    'log_type error',
    'log_type warning',
    // Never drop queued QoS 1/2 messages for a slow or offline persistent session.
    'max_queued_messages 0',
  ];
  if (options.persistence) lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 1');
  writeFileSync(config, [...lines, ...(options.extraConfig ?? [])].join('\n') + '\n');

  let child: ChildProcess;
  let stopped = false;
  const launch = async () => {
    child = spawn(mosquittoBinary(), ['-c', config], { stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}; see ${join(dir, 'mosquitto.log')}`))),
    );
    failed.catch(() => undefined);
    await Promise.race([waitForPort(port), failed]);
  };
  await launch();

  const signal = async (sig: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, sig);
    await exited(child);
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child.pid ?? -1;
    },
    kill9: () => signal('SIGKILL'),
    restart: async () => {
      await signal('SIGKILL');
      await launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await signal('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
