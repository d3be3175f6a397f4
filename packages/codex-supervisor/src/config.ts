// SPDX-License-Identifier: Apache-2.0
// Supervisor settings, their defaults, and how they are read from the environment.
import { isAbsolute, resolve } from 'node:path';
import { CodexError } from '@ecps/codex-registry';

export interface SupervisorConfig {
  /** Root of the blueprints (`BOTS_DIRECTORY`). */
  botsDirectory: string;
  /** Interpreter name → absolute path; a bot may only choose one of these (`BOT_INTERPRETERS`, JSON). */
  interpreters: Record<string, string>;
  /** Host variables a bot may see besides `PATH, LANG, LC_ALL, TZ` (`BOT_ENV_PASSTHROUGH`, comma-separated). */
  envPassthrough: string[];
  /** `<logDir>/<id>/stdout.log` and `stderr.log` (`BOT_LOG_DIR`). */
  logDir: string;
  /** Rotate a bot log past this size (`BOT_LOG_MAX_BYTES`, default 10 MiB)… */
  logMaxBytes: number;
  /** …keeping `.1` to `.N` (`BOT_LOG_BACKUPS`, default 5). */
  logBackups: number;
  /** Seconds between supervisor ticks (`HEALTH_CHECK_INTERVAL_SEC`, default 10). */
  tickIntervalSec: number;
  /** RSS of a bot's process group above which it is killed (`MEMORY_THRESHOLD_MB`, default 500). */
  memoryThresholdMb: number;
  /** CPU use (100 = one core) above which a `cpu_warning` is recorded (`CPU_THRESHOLD_PERCENT`, default 90). */
  cpuThresholdPercent: number;
  /** Failures after which a bot is quarantined on the next one (`MAX_FAILURES`, default 5). */
  maxFailures: number;
  /** Seconds of healthy running that take one failure off the counter (`FAILURE_DECAY_SEC`, default 300). */
  failureDecaySec: number;
  /** Seconds between SIGTERM and SIGKILL (`STOP_GRACE_SEC`, default 5). */
  stopGraceSec: number;
  /** Per-bot working directories of sandboxed bots (`SANDBOX_ROOT`). */
  sandboxRoot: string;
  /** The unprivileged uid and gid of `standard` and `strict` isolation (`SANDBOX_UID`, `SANDBOX_GID`). */
  sandboxUid: number | null;
  sandboxGid: number | null;
  /** Restart bots whose desired state is `running` after a server restart (`RESUME_ON_BOOT`, default true). */
  resumeOnBoot: boolean;
}

export const SUPERVISOR_DEFAULTS: SupervisorConfig = {
  botsDirectory: './bots',
  interpreters: { python3: '/usr/bin/python3' },
  envPassthrough: [],
  logDir: './logs/bots',
  logMaxBytes: 10 * 1024 * 1024,
  logBackups: 5,
  tickIntervalSec: 10,
  memoryThresholdMb: 500,
  cpuThresholdPercent: 90,
  maxFailures: 5,
  failureDecaySec: 300,
  stopGraceSec: 5,
  sandboxRoot: '/var/lib/codex32/sandbox',
  sandboxUid: null,
  sandboxGid: null,
  resumeOnBoot: true,
};

/**
 * The configuration from `CODEX`-style environment variables (see {@link SupervisorConfig}); relative paths are
 * resolved against `baseDir` (the configuration file's directory), not the working directory.
 * Throws `CodexError` `validation_error` for a malformed value.
 */
export function supervisorConfigFromEnv(env: Readonly<Record<string, string | undefined>>, baseDir: string): SupervisorConfig {
  const number = (name: string, fallback: number, min = 0): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new CodexError('validation_error', `${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return value;
  };
  const id = (name: string): number | null => (env[name] ? number(name, 0) : null);
  const path = (name: string, fallback: string) => {
    const value = env[name] || fallback;
    return isAbsolute(value) ? value : resolve(baseDir, value);
  };
  let interpreters = SUPERVISOR_DEFAULTS.interpreters;
  if (env['BOT_INTERPRETERS']) {
    try {
      interpreters = JSON.parse(env['BOT_INTERPRETERS']) as Record<string, string>;
    } catch (cause) {
      throw new CodexError('validation_error', 'BOT_INTERPRETERS must be a JSON object of name → absolute path', { cause });
    }
    if (typeof interpreters !== 'object' || interpreters === null || Object.values(interpreters).some((p) => typeof p !== 'string' || !isAbsolute(p))) {
      throw new CodexError('validation_error', 'BOT_INTERPRETERS must map names to absolute paths');
    }
  }
  return {
    botsDirectory: path('BOTS_DIRECTORY', SUPERVISOR_DEFAULTS.botsDirectory),
    interpreters,
    envPassthrough: (env['BOT_ENV_PASSTHROUGH'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    logDir: path('BOT_LOG_DIR', SUPERVISOR_DEFAULTS.logDir),
    logMaxBytes: number('BOT_LOG_MAX_BYTES', SUPERVISOR_DEFAULTS.logMaxBytes, 1),
    logBackups: number('BOT_LOG_BACKUPS', SUPERVISOR_DEFAULTS.logBackups, 1),
    tickIntervalSec: number('HEALTH_CHECK_INTERVAL_SEC', SUPERVISOR_DEFAULTS.tickIntervalSec, 0.01),
    memoryThresholdMb: number('MEMORY_THRESHOLD_MB', SUPERVISOR_DEFAULTS.memoryThresholdMb, 1),
    cpuThresholdPercent: number('CPU_THRESHOLD_PERCENT', SUPERVISOR_DEFAULTS.cpuThresholdPercent, 1),
    maxFailures: number('MAX_FAILURES', SUPERVISOR_DEFAULTS.maxFailures, 0),
    failureDecaySec: number('FAILURE_DECAY_SEC', SUPERVISOR_DEFAULTS.failureDecaySec, 1),
    stopGraceSec: number('STOP_GRACE_SEC', SUPERVISOR_DEFAULTS.stopGraceSec, 0),
    sandboxRoot: path('SANDBOX_ROOT', SUPERVISOR_DEFAULTS.sandboxRoot),
    sandboxUid: id('SANDBOX_UID'),
    sandboxGid: id('SANDBOX_GID'),
    resumeOnBoot: !['false', '0', 'no'].includes((env['RESUME_ON_BOOT'] ?? 'true').toLowerCase()),
  };
}
