// SPDX-License-Identifier: Apache-2.0
// The supervisor: starts and stops bots, reacts to their exits at once, checks health and resources on each tick,
// restarts with backoff, quarantines, reconciles after a restart, and stops every child on shutdown.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, systemClock, type Clock, type Logger, type TimerHandle } from '@ecps/core';
import {
  appendPerformanceLog,
  applyBotEvent,
  CodexError,
  isCodexError,
  isoTime,
  isSameProcess,
  KeyedMutex,
  processStartTime,
  recordIncidentOrLog,
  requireBot,
  type Bot,
  type BotStore,
  type IncidentKind,
  type IncidentStore,
} from '@ecps/codex-registry';
import { SUPERVISOR_DEFAULTS, type SupervisorConfig } from './config';
import { failureThreshold, probe, probeIntervalSec } from './health';
import { probeSandbox, type SandboxCapabilities } from './isolation';
import { launchBot, type LaunchedBot } from './launch';
import { logFile, readLogTail, rotateLog, type LogStream } from './logs';
import { killGroupAndWait, procConstants, scanProcessGroups, signalGroup, type GroupUsage } from './proc';

export interface SupervisorOptions {
  store: BotStore;
  incidents: IncidentStore;
  config?: Partial<SupervisorConfig>;
  /** Schedules backoff, decay, probe intervals, CPU-warning spacing and the tick loop. */
  clock?: Clock;
  logger?: Logger;
  /** The host environment bots may take allow-listed variables from (default `process.env`). */
  hostEnv?: Readonly<Record<string, string | undefined>>;
  /** Skip the probe and report these capabilities (tests of fail-closed behaviour). */
  capabilities?: SandboxCapabilities;
}

export interface StartResult {
  status: 'ok' | 'already_running';
  bot: Bot;
}

export interface StopResult {
  status: 'ok' | 'not_running';
  bot: Bot;
}

export interface SupervisedChild {
  bot_id: string;
  pid: number;
  started_at: string;
  sandbox_id: string | null;
}

export interface ReconcileReport {
  /** Bots set to `stopped` because no process of this server ran them. */
  reconciled: string[];
  /** Orphans of ours (same pid and start time) that were killed. */
  killed: number[];
  /** Live pids whose start time differs (reused): never signalled. */
  pidReused: number[];
  /** Bots started again because their desired state is `running`. */
  resumed: string[];
}

/** The `last_error` of a bot found in a live status at start-up. */
export const RECONCILED_ERROR = 'reconciled at startup: process not owned by this server';

interface Tracked {
  botId: string;
  pid: number;
  process: ChildProcess;
  workDir: string;
  sandboxId: string | null;
  startedAtMs: number;
  exited: Promise<void>;
  /** Resolves when the exit has been recorded in the registry. */
  settled: Promise<void>;
  stopReason: string | null;
  killReason: { kind: IncidentKind; message: string } | null;
  terminating: Promise<void> | null;
  healthFailures: number;
  nextProbeAt: number;
  healthySince: number;
  lastDecayAt: number;
  cpu: { ticks: number; at: number } | null;
  lastCpuWarningAt: number | null;
}

const CPU_WARNING_SPACING_MS = 5 * 60_000;
const LIVE_STATUSES = new Set(['deploying', 'running', 'stopping']);
/** Bots another driver runs (Kubernetes pods): this supervisor neither reconciles nor fails them. */
const notOurs = (bot: Bot) => bot.deployment_config.deployment_type === 'kubernetes_pod';

/**
 * Supervises the bots of one registry on this host. Create it with {@link Supervisor.create}, call `reconcile()`
 * before serving requests, then `startLoop()`; `shutdown()` stops every child (no orphans) and leaves each bot
 * `stopped` with its desired state unchanged, so `resumeOnBoot` can bring it back.
 *
 * Every state change goes through the store (and so becomes an event on `store.events`); metrics are published
 * there as `bot.metrics`, incidents through the incident store. One supervisor should own a registry: two on the
 * same registry would both act on its bots.
 */
export class Supervisor {
  readonly config: SupervisorConfig;
  private readonly store: BotStore;
  private readonly incidents: IncidentStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly hostEnv: Readonly<Record<string, string | undefined>>;
  private readonly perBot = new KeyedMutex();
  private readonly children = new Map<string, Tracked>();
  private readonly restartTimers = new Map<string, TimerHandle>();
  /** Launches under way, so shutdown can wait for their children too. */
  private readonly launching = new Set<Promise<unknown>>();
  private loopTimer: TimerHandle | null = null;
  private ticking = false;
  private closed = false;

  private constructor(
    options: SupervisorOptions,
    private readonly sandbox: SandboxCapabilities,
  ) {
    this.store = options.store;
    this.incidents = options.incidents;
    this.config = { ...SUPERVISOR_DEFAULTS, ...options.config };
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.hostEnv = options.hostEnv ?? process.env;
  }

  /** Probes which isolation levels work here (unless given) and returns a supervisor that runs nothing yet. */
  static async create(options: SupervisorOptions): Promise<Supervisor> {
    const config = { ...SUPERVISOR_DEFAULTS, ...options.config };
    let capabilities = options.capabilities;
    if (!capabilities) {
      const scratch = await mkdtemp(join(tmpdir(), 'codex-probe-'));
      try {
        await chmod(scratch, 0o755); // a sandbox uid must be able to enter it
        capabilities = await probeSandbox({ uid: config.sandboxUid, gid: config.sandboxGid }, scratch);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
    return new Supervisor(options, capabilities);
  }

  /** Which isolation levels work on this host and what each does and does not enforce. */
  capabilities(): SandboxCapabilities {
    return structuredClone(this.sandbox);
  }

  /** The live children of this supervisor. */
  supervised(): SupervisedChild[] {
    return [...this.children.values()].map((c) => ({ bot_id: c.botId, pid: c.pid, started_at: isoTime(c.startedAtMs), sandbox_id: c.sandboxId }));
  }

  /**
   * Starts a bot (S1/S2 then S3, or S4/S5). A bot already running with a live child answers `already_running`; one
   * recorded as running without a live child first fails (S8). Throws `CodexError`: `not_found`, `invalid_transition`,
   * `unsupported_deployment_type`, `script_not_found`, `sandbox_unavailable`, `validation_error`, `spawn_failed`.
   */
  async start(id: string): Promise<StartResult> {
    this.assertOpen();
    return this.perBot.run(id, async () => {
      let bot = await requireBot(this.store, id);
      if (bot.deployment_config.deployment_type === 'kubernetes_pod') {
        throw new CodexError('unsupported_deployment_type', `bot ${id}: deployment type kubernetes_pod cannot be started by this supervisor`);
      }
      if (bot.status === 'running' || bot.status === 'deploying') {
        if (this.isAlive(id)) return { status: 'already_running', bot };
        bot =
          bot.status === 'running'
            ? await this.update(id, { type: 'failed', error: 'process not running', exitCode: null })
            : await this.update(id, { type: 'spawn_failed', error: 'start was interrupted' });
      }
      this.cancelRestart(id);
      bot = await this.update(id, { type: 'start' });
      return { status: 'ok', bot: await this.launch(bot, 'start') };
    });
  }

  /**
   * Stops a bot: status `stopping`, SIGTERM to its process group, SIGKILL after `stopGraceSec`, a final group SIGKILL
   * so no grandchild outlives it, then `stopped` (S6/S7). Without a live child: `not_running` (status unchanged, any
   * pending restart cancelled). Throws `CodexError` `not_found`.
   */
  async stop(id: string, reason = 'stopped by request'): Promise<StopResult> {
    this.assertOpen();
    const outcome = await this.perBot.run(id, async (): Promise<{ tracked: Tracked } | StopResult> => {
      let bot = await requireBot(this.store, id);
      this.cancelRestart(id);
      const tracked = this.children.get(id);
      if (tracked && this.isAlive(id)) {
        if (bot.status !== 'stopping') await this.update(id, { type: 'stop', reason });
        tracked.stopReason ??= reason;
        return { tracked };
      }
      if (LIVE_STATUSES.has(bot.status) && bot.process_id !== null && bot.process_started_at !== null && (await isSameProcess(bot.process_id, bot.process_started_at))) {
        // Recorded with a live process no child of ours is (e.g. started by another `ecps codex` command): same stop.
        if (bot.status !== 'stopping') await this.update(id, { type: 'stop', reason });
        await this.killForeign(bot.process_id, bot.process_started_at);
        return { status: 'ok', bot: await this.update(id, { type: 'exited', exitCode: null, reason }) };
      }
      if (bot.desired_state === 'running' || bot.next_restart_at !== null) {
        bot = await this.store.update(id, (b) => ({ ...b, desired_state: 'stopped', next_restart_at: null }));
      }
      return { status: 'not_running', bot };
    });
    if (!('tracked' in outcome)) return outcome;
    await this.terminate(outcome.tracked);
    await outcome.tracked.settled;
    return { status: 'ok', bot: await requireBot(this.store, id) };
  }

  /** Stops the bot if it runs (S12), then removes it. False when there was no such bot. */
  async delete(id: string): Promise<boolean> {
    if (!(await this.store.get(id))) return false;
    await this.stop(id, 'bot deleted');
    return this.store.delete(id);
  }

  /** The last `tailBytes` (at most 1 MiB) of a bot's stdout or stderr, read without blocking. */
  async readLogs(id: string, stream: LogStream = 'stdout', tailBytes = 65_536): Promise<string> {
    await requireBot(this.store, id);
    return readLogTail(logFile(this.config.logDir, id, stream), Math.max(0, Math.min(tailBytes, 1024 * 1024)));
  }

  /**
   * Start-up reconciliation (run before serving requests): every bot recorded as deploying, running or stopping
   * becomes `stopped` with an incident `reconciled`. A recorded process that is alive with the recorded start time is
   * our orphan and is killed (group SIGTERM, SIGKILL after the grace period); a live pid with another start time was
   * reused and is never signalled. Bots whose desired state is `running` are then started again (not a failure) when
   * `resumeOnBoot` is set; pending restarts of failed bots are re-armed.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { reconciled: [], killed: [], pidReused: [], resumed: [] };
    const resume: string[] = [];
    for (const listed of (await this.store.list()).bots) {
      if (this.children.has(listed.id) || notOurs(listed)) continue;
      if (LIVE_STATUSES.has(listed.status)) {
        try {
          if (await this.perBot.run(listed.id, () => this.reconcileOne(listed.id, report))) resume.push(listed.id);
        } catch (error) {
          this.logger.error('codex supervisor: cannot reconcile bot', { bot_id: listed.id, error: String(error) });
        }
      } else if (listed.status === 'failed' && listed.desired_state === 'running' && listed.next_restart_at !== null) {
        this.scheduleRestart(listed.id, Date.parse(listed.next_restart_at));
      }
    }
    for (const id of resume) {
      try {
        await this.start(id);
        report.resumed.push(id);
      } catch (error) {
        this.logger.warn('codex supervisor: cannot resume bot', { bot_id: id, error: String(error) });
      }
    }
    return report;
  }

  /** Reconciles one bot (S11); true when it should be resumed. */
  private async reconcileOne(id: string, report: ReconcileReport): Promise<boolean> {
    const bot = await this.store.get(id);
    if (!bot || !LIVE_STATUSES.has(bot.status)) return false;
    let killed = false;
    let reused = false;
    if (bot.process_id !== null) {
      const start = await processStartTime(bot.process_id);
      if (start !== null && start === bot.process_started_at) {
        await this.killForeign(bot.process_id, start);
        killed = true;
        report.killed.push(bot.process_id);
      } else if (start !== null) {
        reused = true;
        report.pidReused.push(bot.process_id);
      }
    }
    await this.update(bot.id, { type: 'reconcile', error: RECONCILED_ERROR });
    await this.incident(bot, 'reconciled', RECONCILED_ERROR, { pid: bot.process_id, killed_orphan: killed, pid_reused: reused });
    report.reconciled.push(bot.id);
    return bot.desired_state === 'running' && this.config.resumeOnBoot;
  }

  /** Runs `tick()` every `tickIntervalSec` on the clock until `shutdown()`. */
  startLoop(): void {
    if (this.loopTimer || this.closed) return;
    const schedule = () => {
      this.loopTimer = this.clock.setTimeout(() => {
        void this.tick().finally(() => !this.closed && schedule());
      }, this.config.tickIntervalSec * 1000);
    };
    schedule();
  }

  /**
   * One supervision pass: due restarts, bots recorded as running without a child (failed, with an incident),
   * resources (RSS kill, CPU warning), health probes, failure-counter decay, performance samples and log rotation.
   * A tick that overlaps a running one is skipped (returns false).
   */
  async tick(): Promise<boolean> {
    if (this.ticking || this.closed) return false;
    this.ticking = true;
    try {
      const now = this.clock.now();
      for (const bot of (await this.store.list()).bots) {
        if (notOurs(bot)) continue;
        if (bot.status === 'failed' && bot.desired_state === 'running' && bot.next_restart_at !== null && Date.parse(bot.next_restart_at) <= now) {
          await this.restartDue(bot.id);
        } else if (bot.status === 'running' && !this.children.has(bot.id)) {
          await this.failUntracked(bot.id);
        }
      }
      const usage = await scanProcessGroups(new Set([...this.children.values()].map((c) => c.pid)));
      for (const tracked of [...this.children.values()]) {
        try {
          await this.checkChild(tracked, usage.get(tracked.pid));
        } catch (error) {
          this.logger.warn('codex supervisor: check failed', { bot_id: tracked.botId, error: String(error) });
        }
      }
      return true;
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Stops the loop and every child in parallel (SIGTERM, SIGKILL after the grace period, then the whole group) and
   * records each bot as `stopped`, keeping its desired state. Idempotent.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.loopTimer) this.clock.clearTimeout(this.loopTimer);
    for (const id of [...this.restartTimers.keys()]) this.cancelRestart(id);
    // a launch already under way (a due restart) adds its child after this started: wait for it and stop it too
    while (this.children.size > 0 || this.launching.size > 0) {
      await Promise.allSettled([...this.launching]);
      await this.stopAll();
    }
  }

  private async stopAll(): Promise<void> {
    await Promise.all(
      [...this.children.values()].map(async (tracked) => {
        await this.perBot.run(tracked.botId, async () => {
          tracked.stopReason ??= 'server shutdown';
          const bot = await this.store.get(tracked.botId);
          if (bot && (bot.status === 'running' || bot.status === 'deploying')) {
            await this.store.update(bot.id, (b) => ({ ...applyBotEvent(b, { type: 'stop', reason: 'server shutdown' }, this.clock.now()), desired_state: b.desired_state }));
          }
        });
        await this.terminate(tracked);
        await tracked.settled;
      }),
    );
  }

  private async launch(bot: Bot, kind: 'start' | 'restart'): Promise<Bot> {
    let launched: LaunchedBot;
    const launching = launchBot(bot, this.config, this.hostEnv);
    this.launching.add(launching);
    try {
      launched = await launching;
    } catch (error) {
      const typed = isCodexError(error) ? error : new CodexError('spawn_failed', `cannot start bot ${bot.id}: ${String(error)}`, { cause: error });
      const failed = await this.update(bot.id, { type: 'spawn_failed', error: typed.message, countsAsFailure: kind === 'restart' });
      const fallback = typed.details['fallback'];
      if (typeof fallback === 'string') await this.incident(bot, 'fallback_failed', `local fallback failed: ${typed.message}`, { sandbox_reason: fallback });
      if (kind === 'restart') {
        await this.incident(failed, 'restart_failed', typed.message, { failure_count: failed.failure_count });
        await this.afterFailure(failed);
        return failed;
      }
      throw typed;
    } finally {
      this.launching.delete(launching);
    }
    const tracked = this.track(bot.id, launched);
    let running: Bot;
    try {
      running = await this.update(bot.id, { type: 'spawned', pid: launched.pid, startedAt: launched.startTime, sandboxId: launched.sandboxId });
    } catch (error) {
      tracked.stopReason = 'could not record the start';
      void this.terminate(tracked);
      throw error;
    }
    if (launched.fallbackReason) await this.incident(running, 'fallback', `sandbox unavailable (${launched.fallbackReason}); running as a local process`, {});
    if (kind === 'restart') await this.incident(running, 'restart', `restarted after failure ${running.failure_count}`, { pid: launched.pid });
    return running;
  }

  private track(botId: string, launched: LaunchedBot): Tracked {
    const now = this.clock.now();
    let markExited!: () => void;
    let markSettled!: () => void;
    const tracked: Tracked = {
      botId,
      pid: launched.pid,
      process: launched.child,
      workDir: launched.workDir,
      sandboxId: launched.sandboxId,
      startedAtMs: now,
      exited: new Promise((r) => (markExited = r)),
      settled: new Promise((r) => (markSettled = r)),
      stopReason: null,
      killReason: null,
      terminating: null,
      healthFailures: 0,
      nextProbeAt: now,
      healthySince: now,
      lastDecayAt: now,
      cpu: null,
      lastCpuWarningAt: null,
    };
    this.children.set(botId, tracked);
    // Event-driven liveness: the exit is recorded as soon as the kernel reports it, not on the next tick.
    launched.child.once('exit', (code, signal) => {
      markExited();
      this.perBot
        .run(botId, () => this.onExit(tracked, code, signal))
        .catch((error) => this.logger.error('codex supervisor: cannot record an exit', { bot_id: botId, error: String(error) }))
        .finally(markSettled);
    });
    return tracked;
  }

  private async onExit(tracked: Tracked, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.children.get(tracked.botId) === tracked) this.children.delete(tracked.botId);
    signalGroup(tracked.pid, 'SIGKILL'); // whatever the bot left behind in its group dies with it
    const bot = await this.store.get(tracked.botId);
    if (!bot || bot.process_id !== tracked.pid) return;
    const exitCode = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : null);
    if (bot.status === 'stopping') {
      await this.update(bot.id, { type: 'exited', exitCode, reason: tracked.stopReason ?? 'stopped' });
      return;
    }
    if (bot.status !== 'running') return;
    const error = tracked.killReason?.message ?? (signal ? `exited on signal ${signal}` : `exited with code ${code}`);
    const failed = await this.update(bot.id, { type: 'failed', error, exitCode });
    if (!tracked.killReason) await this.incident(failed, 'exited', error, { exit_code: exitCode, signal });
    await this.afterFailure(failed);
  }

  /** The restart policy after a failure (§3.3): quarantine past `maxFailures`, else backoff 2, 4, 8, 16, 32 s. */
  private async afterFailure(bot: Bot): Promise<void> {
    if (bot.status !== 'failed' || bot.desired_state !== 'running' || bot.deployment_config.restart_policy === 'never' || this.closed) return;
    if (bot.failure_count > this.config.maxFailures) {
      const message = `Supervisor quarantined bot after ${this.config.maxFailures} failed heal attempts`;
      const quarantined = await this.update(bot.id, { type: 'quarantine', error: message });
      await this.incident(quarantined, 'quarantined', message, { failure_count: bot.failure_count });
      return;
    }
    const delaySec = Math.min(60, 2 ** bot.failure_count);
    const due = this.clock.now() + delaySec * 1000;
    const scheduled = await this.store.update(bot.id, (b) => ({ ...b, next_restart_at: isoTime(due) }));
    await this.incident(scheduled, 'unhealthy', `${bot.last_error}; restarting in ${delaySec} s`, { failure_count: bot.failure_count, retry_in_sec: delaySec });
    this.scheduleRestart(bot.id, due);
  }

  private scheduleRestart(id: string, dueMs: number): void {
    this.cancelRestart(id);
    this.restartTimers.set(
      id,
      this.clock.setTimeout(() => {
        this.restartTimers.delete(id);
        void this.restartDue(id);
      }, Math.max(0, dueMs - this.clock.now())),
    );
  }

  private cancelRestart(id: string): void {
    const timer = this.restartTimers.get(id);
    if (timer === undefined) return;
    this.clock.clearTimeout(timer);
    this.restartTimers.delete(id);
  }

  /** S9: a failed bot whose backoff has elapsed is started again. */
  private async restartDue(id: string): Promise<void> {
    if (this.closed) return;
    await this.perBot
      .run(id, async () => {
        const bot = await this.store.get(id);
        if (this.closed || !bot || bot.status !== 'failed' || bot.desired_state !== 'running' || bot.next_restart_at === null) return;
        if (Date.parse(bot.next_restart_at) > this.clock.now()) return;
        await this.launch(await this.update(id, { type: 'restart' }), 'restart');
      })
      .catch((error) => this.logger.error('codex supervisor: restart failed', { bot_id: id, error: String(error) }));
  }

  /** A bot recorded as running that no child of ours runs: failed (S8) with an incident, unless its process lives on. */
  private async failUntracked(id: string): Promise<void> {
    await this.perBot.run(id, async () => {
      const bot = await this.store.get(id);
      if (!bot || bot.status !== 'running' || this.children.has(id)) return;
      if (bot.process_id !== null && bot.process_started_at !== null && (await isSameProcess(bot.process_id, bot.process_started_at))) return; // someone else's live child
      const error = 'process not running: no supervised child for this bot';
      const failed = await this.update(id, { type: 'failed', error, exitCode: null });
      await this.incident(failed, 'exited', error, { pid: bot.process_id });
      await this.afterFailure(failed);
    });
  }

  private async checkChild(tracked: Tracked, usage: GroupUsage | undefined): Promise<void> {
    if (!usage || !this.isAlive(tracked.botId) || tracked.terminating) return;
    const now = this.clock.now();
    const { clockTicks } = await procConstants();
    const rssMb = Math.round((usage.rssBytes / 1024 / 1024) * 10) / 10;
    const at = this.clock.monotonic();
    let cpu = 0;
    if (tracked.cpu && at > tracked.cpu.at) cpu = Math.round((((usage.cpuTicks - tracked.cpu.ticks) / clockTicks / ((at - tracked.cpu.at) / 1000)) * 100) * 10) / 10;
    tracked.cpu = { ticks: usage.cpuTicks, at };

    const bot = await this.store.get(tracked.botId);
    if (!bot || bot.status !== 'running') return;
    const check = bot.deployment_config.health_check ?? { type: 'none' as const };
    if (check.type !== 'none' && now >= tracked.nextProbeAt) {
      tracked.nextProbeAt = now + probeIntervalSec(check) * 1000;
      const result = await probe(check, tracked.workDir, now);
      if (result.ok) tracked.healthFailures = 0;
      else {
        tracked.healthFailures++;
        tracked.healthySince = now;
        if (tracked.healthFailures >= failureThreshold(check)) {
          await this.kill(tracked, bot, 'health_check_failed', `health check failed: ${result.reason}`, { failures: tracked.healthFailures });
          return;
        }
      }
    }
    if (rssMb > this.config.memoryThresholdMb) {
      await this.kill(tracked, bot, 'memory_limit_exceeded', `memory_limit_exceeded: RSS ${rssMb} MB is over ${this.config.memoryThresholdMb} MB`, { rss_mb: rssMb, limit_mb: this.config.memoryThresholdMb });
      return;
    }
    if (cpu > this.config.cpuThresholdPercent && (tracked.lastCpuWarningAt === null || now - tracked.lastCpuWarningAt >= CPU_WARNING_SPACING_MS)) {
      tracked.lastCpuWarningAt = now;
      await this.incident(bot, 'cpu_warning', `CPU ${cpu} % is over ${this.config.cpuThresholdPercent} %`, { cpu_percent: cpu, limit_percent: this.config.cpuThresholdPercent });
    }
    const healthy = tracked.healthFailures === 0;
    const decay = healthy && bot.failure_count > 0 && now - Math.max(tracked.healthySince, tracked.lastDecayAt) >= this.config.failureDecaySec * 1000;
    if (decay) tracked.lastDecayAt = now;
    await this.perBot.run(tracked.botId, () =>
      this.store.update(tracked.botId, (b) => {
        if (b.status !== 'running' || b.process_id !== tracked.pid) return b;
        const performance = {
          ...b.performance,
          cpu_load: cpu,
          memory_usage_mb: rssMb,
          uptime_seconds: b.started_at ? Math.max(0, Math.round((now - Date.parse(b.started_at)) / 1000)) : 0,
          last_heartbeat: healthy ? isoTime(now) : b.performance.last_heartbeat,
        };
        return appendPerformanceLog(
          { ...b, performance, failure_count: decay ? Math.max(0, b.failure_count - 1) : b.failure_count },
          { timestamp: isoTime(now), event: 'metrics', cpu_load: cpu, memory_usage_mb: rssMb },
        );
      }),
    );
    this.store.events.publish('bot.metrics', { bot_id: tracked.botId, cpu_load: cpu, memory_usage_mb: rssMb });
    for (const stream of ['stdout', 'stderr'] as const) await rotateLog(logFile(this.config.logDir, tracked.botId, stream), this.config.logMaxBytes, this.config.logBackups);
  }

  /** Records the incident, then stops the process group; its exit makes the bot `failed` with `message` (S8). */
  private async kill(tracked: Tracked, bot: Bot, kind: IncidentKind, message: string, data: Record<string, unknown>): Promise<void> {
    tracked.killReason = { kind, message };
    await this.incident(bot, kind, message, data);
    void this.terminate(tracked);
  }

  /** SIGTERM to the group, SIGKILL after the grace period, then a final group SIGKILL for stray grandchildren. */
  private terminate(tracked: Tracked): Promise<void> {
    tracked.terminating ??= (async () => {
      signalGroup(tracked.pid, 'SIGTERM');
      if (!(await within(tracked.exited, this.config.stopGraceSec * 1000))) {
        signalGroup(tracked.pid, 'SIGKILL');
        await within(tracked.exited, 1000);
      }
      await killGroupAndWait(tracked.pid);
    })();
    return tracked.terminating;
  }

  /** The same stop for a process that is not our child (no exit event): poll its identity instead. */
  private async killForeign(pid: number, startTime: number): Promise<void> {
    const gone = async (ms: number) => {
      for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) if (!(await isSameProcess(pid, startTime))) return true;
      return !(await isSameProcess(pid, startTime));
    };
    const signal = (s: NodeJS.Signals) => {
      if (!signalGroup(pid, s)) process.kill(pid, s);
    };
    try {
      signal('SIGTERM');
      if (!(await gone(this.config.stopGraceSec * 1000))) {
        signal('SIGKILL');
        await gone(1000);
      }
      await killGroupAndWait(pid);
    } catch {
      // it exited between the check and the signal
    }
  }

  private async update(id: string, event: Parameters<typeof applyBotEvent>[1]): Promise<Bot> {
    return this.store.update(id, (b) => applyBotEvent(b, event, this.clock.now()));
  }

  private incident(bot: Pick<Bot, 'id' | 'name'>, kind: IncidentKind, message: string, data: Record<string, unknown>): Promise<void> {
    return recordIncidentOrLog(this.incidents, this.logger, 'codex supervisor', bot, kind, message, data);
  }

  private isAlive(id: string): boolean {
    const tracked = this.children.get(id);
    return !!tracked && tracked.process.exitCode === null && tracked.process.signalCode === null;
  }

  private assertOpen(): void {
    if (this.closed) throw new CodexError('closed', 'the supervisor is shut down');
  }
}

/** True when `promise` settles within `ms` (the timer is cleared either way). */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
