// SPDX-License-Identifier: Apache-2.0
// Starting one bot process: resolve and confine its blueprint, choose its interpreter, build its sandbox, and spawn it
// as the leader of a new process group with its output going straight to its log files.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { chown, mkdir, realpath } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { cryptoRandom, toHex } from '@ecps/core';
import { CodexError, parseMemoryMb, processStartTime, type Bot } from '@ecps/codex-registry';
import { botEnvironment } from './environment';
import { wrapCommand } from './isolation';
import { openLogDescriptors } from './logs';
import type { SupervisorConfig } from './config';

export interface LaunchedBot {
  child: ChildProcess;
  pid: number;
  /** Kernel start time of the leader, null when it was already gone when we looked. */
  startTime: number | null;
  /** The working directory (the blueprint's directory, or the sandbox work directory). */
  workDir: string;
  sandboxId: string | null;
  /** Set when a sandbox was unavailable and the bot opted into running as a local process instead. */
  fallbackReason: string | null;
}

/** How long a sandboxed child may take to be spawned before the start is abandoned. */
const SPAWN_TIMEOUT_MS = 10_000;

/** True for deployment types that run inside an isolation profile (`container` names are kept for compatibility). */
export function isSandboxed(bot: Bot): boolean {
  return ['sandbox', 'custom_container', 'container'].includes(bot.deployment_config.deployment_type ?? 'local_process');
}

/**
 * The blueprint's real path, confined to the bots directory. Throws `CodexError` `script_not_found`
 * ("Bot script not found: <blueprint>") when it does not exist or resolves outside the directory (symlinks included).
 */
export async function resolveBlueprint(bot: Bot, botsDirectory: string): Promise<string> {
  const notFound = () => new CodexError('script_not_found', `Bot script not found: ${bot.blueprint}`);
  let root: string;
  let file: string;
  try {
    root = await realpath(botsDirectory);
    file = await realpath(resolve(root, bot.blueprint));
  } catch {
    throw notFound();
  }
  if (!file.startsWith(root + sep)) throw notFound();
  return file;
}

/**
 * Spawns `bot` (already in status `deploying`). Errors (`CodexError`): `unsupported_deployment_type`,
 * `script_not_found`, `validation_error` (interpreter not allowed, bad memory limit), `sandbox_unavailable`
 * ("sandbox unavailable: <reason>", unless the bot sets `extra_config.allow_local_fallback`), `spawn_failed`.
 */
export async function launchBot(bot: Bot, config: SupervisorConfig, host: Readonly<Record<string, string | undefined>> = process.env): Promise<LaunchedBot> {
  const deployment = bot.deployment_config;
  if (deployment.deployment_type === 'kubernetes_pod') {
    throw new CodexError('unsupported_deployment_type', `bot ${bot.id}: deployment type kubernetes_pod cannot be started by this supervisor`);
  }
  const interpreter = config.interpreters[deployment.interpreter ?? 'python3'];
  if (!interpreter) throw new CodexError('validation_error', `interpreter ${deployment.interpreter} is not in BOT_INTERPRETERS (${Object.keys(config.interpreters).join(', ')})`);
  const blueprint = await resolveBlueprint(bot, config.botsDirectory);
  const command = [interpreter, blueprint, ...(deployment.args ?? [])];

  let argv = command;
  let workDir = dirname(blueprint);
  let extraEnv: Record<string, string> = {};
  let sandboxId: string | null = null;
  let fallbackReason: string | null = null;
  if (isSandboxed(bot)) {
    const sandbox = await prepareSandbox(bot, config);
    const wrapped = wrapCommand({
      level: deployment.isolation_level ?? 'minimal',
      command,
      memoryLimitMb: parseMemoryMb(deployment.memory_limit ?? '512Mi'),
      settings: { uid: config.sandboxUid, gid: config.sandboxGid },
      workDir: sandbox,
      blueprintDir: dirname(blueprint),
    });
    if ('unavailable' in wrapped) {
      if (deployment.extra_config?.['allow_local_fallback'] !== true) throw new CodexError('sandbox_unavailable', `sandbox unavailable: ${wrapped.unavailable}`);
      fallbackReason = wrapped.unavailable;
    } else {
      argv = wrapped.argv;
      const strict = deployment.isolation_level === 'strict';
      workDir = sandbox;
      extraEnv = { HOME: strict ? '/work' : sandbox, TMPDIR: strict ? '/tmp' : sandbox };
      sandboxId = `sbx-${bot.id}-${toHex(cryptoRandom.bytes(4))}`;
    }
  }

  try {
    const child = await spawnDetached(bot.id, argv, workDir, botEnvironment(bot, host, config.envPassthrough, extraEnv), config.logDir);
    const pid = child.pid!;
    return { child, pid, startTime: await processStartTime(pid), workDir, sandboxId, fallbackReason };
  } catch (error) {
    if (!fallbackReason) throw error;
    const typed = error as CodexError;
    throw new CodexError(typed.reason, typed.message, { cause: error, details: { fallback: fallbackReason } });
  }
}

/**
 * Spawns the leader of a new session and process group with stdout and stderr appended to the bot's log files, and
 * waits for the kernel to report it spawned (10 s at most). Throws `CodexError` `spawn_failed`.
 */
async function spawnDetached(botId: string, argv: string[], cwd: string, env: Record<string, string>, logDir: string): Promise<ChildProcess> {
  const [out, err] = await openLogDescriptors(logDir, botId);
  let child: ChildProcess;
  try {
    // detached: setsid(), so the whole group can be signalled and the bot shares no terminal with the server
    child = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', out, err] });
  } finally {
    closeSync(out); // the child holds its own copies
    closeSync(err);
  }
  child.on('error', () => {}); // later errors (a failed kill) show up as the exit; never let one crash the server
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
      fail(new CodexError('spawn_failed', `bot ${botId} was not spawned within ${SPAWN_TIMEOUT_MS / 1000} s`));
    }, SPAWN_TIMEOUT_MS);
    child.once('spawn', () => {
      clearTimeout(timer);
      done();
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(new CodexError('spawn_failed', `cannot spawn bot ${botId}: ${error.message}`, { cause: error }));
    });
  });
  return child;
}

/** `<SANDBOX_ROOT>/<id>/work`, mode 0700, owned by the sandbox uid when one is configured. */
async function prepareSandbox(bot: Bot, config: SupervisorConfig): Promise<string> {
  const botDir = resolve(config.sandboxRoot, bot.id);
  const work = resolve(botDir, 'work');
  try {
    await mkdir(config.sandboxRoot, { recursive: true, mode: 0o711 });
    await mkdir(work, { recursive: true, mode: 0o700 });
    if (config.sandboxUid !== null && config.sandboxGid !== null && process.getuid?.() === 0) {
      await chown(botDir, config.sandboxUid, config.sandboxGid);
      await chown(work, config.sandboxUid, config.sandboxGid);
    }
  } catch (cause) {
    throw new CodexError('sandbox_unavailable', `sandbox unavailable: cannot prepare ${work}: ${(cause as Error).message}`, { cause });
  }
  return work;
}
