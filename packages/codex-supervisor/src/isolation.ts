// SPDX-License-Identifier: Apache-2.0
// Isolation levels of sandboxed bots, the command lines that implement them, and an honest probe of which work here.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { IsolationLevel } from '@ecps/codex-registry';

export interface IsolationLevelReport {
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  /** What the level enforces. */
  enforces: string[];
  /** What it does not protect against (said plainly, so nobody relies on it). */
  doesNotEnforce: string[];
}

/** What `/self/capabilities` reports as `sandbox.levels`. */
export interface SandboxCapabilities {
  levels: Record<IsolationLevel, IsolationLevelReport>;
}

export interface IsolationSettings {
  uid: number | null;
  gid: number | null;
}

const TOOLS = { prlimit: ['/usr/bin/prlimit', '/bin/prlimit'], setpriv: ['/usr/bin/setpriv', '/bin/setpriv'], bwrap: ['/usr/bin/bwrap'] } as const;
function tool(name: keyof typeof TOOLS): string | null {
  return TOOLS[name].find((p) => existsSync(p)) ?? null;
}

const DESCRIPTIONS: Record<IsolationLevel, Pick<IsolationLevelReport, 'enforces' | 'doesNotEnforce'>> = {
  minimal: {
    enforces: ['virtual memory (RLIMIT_AS = memory_limit)', '1024 file descriptors', 'no core dumps'],
    doesNotEnforce: ['file system access', 'network access', 'CPU share and disk I/O', 'process count per bot (RLIMIT_NPROC counts per uid)', 'hostile code'],
  },
  standard: {
    enforces: ['everything of minimal', 'an unprivileged uid and gid without supplementary groups: no access to files of the server user'],
    doesNotEnforce: ['network access', 'reading world-readable files', 'CPU and I/O quotas', 'hostile code'],
  },
  strict: {
    enforces: ['everything of standard', 'a private file system view (read-only /usr, own /tmp, only its work directory writable)', 'no network (own namespaces)'],
    doesNotEnforce: ['CPU and I/O quotas (no cgroup)', 'kernel exploits: a namespace sandbox is not a virtual machine'],
  },
};

export interface WrapInput {
  level: IsolationLevel;
  /** The bot's command: interpreter, absolute blueprint path, args. */
  command: string[];
  memoryLimitMb: number;
  settings: IsolationSettings;
  /** The bot's writable work directory (bound as `/work` under strict). */
  workDir: string;
  /** The blueprint's directory (bound read-only as `/app` under strict). */
  blueprintDir: string;
}

/**
 * The full command line for a sandboxed bot at `level`, or the reason it cannot run here (fail closed: a level whose
 * tools or settings are missing is never replaced by a weaker one).
 */
export function wrapCommand(input: WrapInput): { argv: string[] } | { unavailable: string } {
  const prlimit = tool('prlimit');
  if (!prlimit) return { unavailable: 'prlimit (util-linux) is not installed' };
  const limits = [prlimit, `--as=${input.memoryLimitMb * 1024 * 1024}`, '--nofile=1024', '--nproc=256', '--core=0', '--'];
  // umask 077 for everything the bot creates, applied by a shell that then execs the bot (same pid)
  const umask = (cmd: string[]) => ['/bin/sh', '-c', 'umask 077 && exec "$0" "$@"', ...cmd];
  if (input.level === 'minimal') {
    if (process.getuid?.() === 0) return { unavailable: 'the server runs as root: minimal isolation would run the bot as root; use standard or strict' };
    return { argv: [...limits, ...umask(input.command)] };
  }
  const setpriv = tool('setpriv');
  if (!setpriv) return { unavailable: 'setpriv (util-linux) is not installed' };
  const { uid, gid } = input.settings;
  if (uid === null || gid === null) return { unavailable: 'SANDBOX_UID and SANDBOX_GID are not set' };
  if (uid === 0) return { unavailable: 'SANDBOX_UID must not be 0' };
  const drop = [setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
  if (input.level === 'standard') return { argv: [...limits, ...drop, ...umask(input.command)] };
  const bwrap = tool('bwrap');
  if (!bwrap) return { unavailable: 'bubblewrap (bwrap) is not installed' };
  const [interpreter, blueprint, ...args] = input.command;
  const inside = [interpreter!, join('/app', blueprint!.slice(input.blueprintDir.length + 1)), ...args];
  const jail = [
    bwrap, '--unshare-all', '--die-with-parent',
    '--ro-bind', '/usr', '/usr', '--ro-bind-try', '/lib', '/lib', '--ro-bind-try', '/lib64', '/lib64', '--ro-bind-try', '/bin', '/bin',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--bind', input.workDir, '/work', '--ro-bind', input.blueprintDir, '/app', '--chdir', '/work', '--',
  ];
  return { argv: [...limits, ...drop, ...jail, ...umask(inside)] };
}

function runs(argv: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5_000, env: { PATH: '/usr/bin:/bin' } }, (error, _out, stderr) =>
      resolve(error ? (stderr.trim().split('\n').at(-1) ?? error.message) || error.message : null),
    );
  });
}

/**
 * Which levels actually work on this host: each is tried once with `/bin/true` through its real command line
 * (as root, `minimal` is refused; `standard` and `strict` need SANDBOX_UID/GID; `strict` needs bubblewrap and user
 * namespaces). Cheap enough to call at start-up; the result is what a capabilities endpoint reports.
 */
export async function probeSandbox(settings: IsolationSettings, scratchDir: string): Promise<SandboxCapabilities> {
  const levels = {} as Record<IsolationLevel, IsolationLevelReport>;
  for (const level of ['minimal', 'standard', 'strict'] as const) {
    const wrapped = wrapCommand({ level, command: ['/bin/true', join(scratchDir, 'probe')], memoryLimitMb: 64, settings, workDir: scratchDir, blueprintDir: scratchDir });
    const failure = 'unavailable' in wrapped ? wrapped.unavailable : await runs(wrapped.argv).then((e) => (e ? `${level} sandbox does not work here: ${e}` : null));
    levels[level] = { available: failure === null, ...(failure ? { reason: failure } : {}), enforces: DESCRIPTIONS[level].enforces, doesNotEnforce: DESCRIPTIONS[level].doesNotEnforce };
  }
  return { levels };
}
