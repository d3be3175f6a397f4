// SPDX-License-Identifier: Apache-2.0
// Launches a real Mosquitto on a free loopback port with a generated config; stops it by process id.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port';

export interface MosquittoOptions {
  /** Keep sessions and queued QoS 1/2 messages on disk (saved on every change), so they survive a restart. */
  persistence?: boolean;
  /** Require these username/password pairs (anonymous access off). */
  users?: Readonly<Record<string, string>>;
  /** Extra config lines appended verbatim. */
  extraConfig?: string[];
  /**
   * Client connections the broker must accept (fleet tests). Mosquitto needs a file descriptor per connection and
   * inherits our limit, so the launcher raises its soft `RLIMIT_NOFILE` to fit (up to the hard limit, else it throws).
   */
  maxConnections?: number;
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

/** File descriptors Mosquitto needs besides its client connections (listeners, log, persistence, bridges). */
const SPARE_FILE_DESCRIPTORS = 64;

/** The soft and hard `RLIMIT_NOFILE` a child of this process starts with. */
export function fileDescriptorLimits(): { soft: number; hard: number } {
  const [soft, hard] = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => (line.trim() === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line)));
  return { soft: soft!, hard: hard! };
}

/**
 * The command that starts Mosquitto with at least `descriptors` file descriptors: through `sh -c 'ulimit -n N; exec
 * mosquitto'` when the inherited soft limit is lower (the shell execs, so the process id stays Mosquitto's).
 */
function mosquittoCommand(config: string, descriptors: number): [string, string[]] {
  const { soft, hard } = fileDescriptorLimits();
  if (descriptors <= soft) return [mosquittoBinary(), ['-c', config]];
  if (descriptors > hard) {
    throw new Error(`mosquitto needs ${descriptors} file descriptors but the hard limit (ulimit -Hn) is ${hard}; raise it (limits.conf, systemd LimitNOFILE)`);
  }
  return ['/bin/sh', ['-c', `ulimit -n ${descriptors} && exec "$0" "$@"`, mosquittoBinary(), '-c', config]];
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
    `allow_anonymous ${options.users ? 'false' : 'true'}`,
    // Run as root, Mosquitto would drop to the `mosquitto` user and could not write our temp directory.
    `user ${userInfo().username}`,
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    'log_type error',
    'log_type warning',
    // Never drop queued QoS 1/2 messages for a slow or offline persistent session.
    'max_queued_messages 0',
  ];
  if (options.maxConnections !== undefined) lines.push(`max_connections ${options.maxConnections}`);
  if (options.users) {
    const passwords = join(dir, 'passwords');
    writeFileSync(passwords, '');
    for (const [user, password] of Object.entries(options.users)) execFileSync('mosquitto_passwd', ['-b', passwords, user, password]);
    lines.push(`password_file ${passwords}`);
  }
  // Saved on every change: with the default periodic save, a kill -9 loses what was acknowledged since the last one.
  if (options.persistence) lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 1', 'autosave_on_changes true');
  writeFileSync(config, [...lines, ...(options.extraConfig ?? [])].join('\n') + '\n');

  let command: string;
  let args: string[];
  try {
    [command, args] = mosquittoCommand(config, (options.maxConnections ?? 0) + SPARE_FILE_DESCRIPTORS);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let child: ChildProcess;
  let stopped = false;
  const launch = async () => {
    child = spawn(command, args, { stdio: 'ignore' });
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
