// SPDX-License-Identifier: Apache-2.0
// The canonical status machine: which event moves a bot from which status to which, and what it records.
import { CodexError } from './errors';
import { appendPerformanceLog, isoTime } from './model';
import type { Bot, BotStatus } from './schema';

/** What can happen to a bot. Each event is legal from the statuses listed in {@link TRANSITIONS}. */
export type BotEvent =
  /** S1, S2: an operator (or resume-on-boot) starts the bot; from `error` this clears the quarantine. */
  | { type: 'start' }
  /** S3: the process is up. `startedAt` is its kernel start time (clock ticks since boot), to detect pid reuse. */
  | { type: 'spawned'; pid: number; startedAt: number | null; sandboxId?: string | null }
  /** S4, S5: the start failed (script missing, sandbox unavailable, spawn error). */
  | { type: 'spawn_failed'; error: string; countsAsFailure?: boolean }
  /** S6: an operator stops the bot; the supervisor sends SIGTERM next. */
  | { type: 'stop'; reason?: string }
  /** S7: the stopped bot's process has exited. */
  | { type: 'exited'; exitCode: number | null; reason?: string }
  /** S8: unexpected exit, failed health check or memory kill of a running bot; counts as a failure. */
  | { type: 'failed'; error: string; exitCode?: number | null }
  /** S9: the supervisor restarts a failed bot whose backoff has elapsed. */
  | { type: 'restart' }
  /** S10: too many failures; the supervisor will not act until an operator starts the bot again. */
  | { type: 'quarantine'; error: string }
  /** S11: start-up reconciliation found a bot that no process of this server runs. */
  | { type: 'reconcile'; error: string };

export type BotEventType = BotEvent['type'];

/** Legal source statuses and the target of every event (spec §1.2). */
export const TRANSITIONS: Readonly<Record<BotEventType, { from: readonly BotStatus[]; to: BotStatus }>> = {
  start: { from: ['created', 'stopped', 'failed', 'error'], to: 'deploying' },
  spawned: { from: ['deploying'], to: 'running' },
  spawn_failed: { from: ['deploying'], to: 'failed' },
  stop: { from: ['running', 'deploying'], to: 'stopping' },
  exited: { from: ['stopping'], to: 'stopped' },
  failed: { from: ['running'], to: 'failed' },
  restart: { from: ['failed'], to: 'deploying' },
  quarantine: { from: ['failed'], to: 'error' },
  reconcile: { from: ['deploying', 'running', 'stopping'], to: 'stopped' },
};

/** True when `event` is legal for a bot in `status`. */
export function canApply(status: BotStatus, event: BotEventType): boolean {
  return TRANSITIONS[event].from.includes(status);
}

/**
 * The bot after `event`, as a new object (the input is not modified). `nowMs` stamps the timestamps it sets.
 * Throws `CodexError` `invalid_transition` (HTTP 409) when the event is not legal from the bot's status.
 */
export function applyBotEvent(bot: Bot, event: BotEvent, nowMs: number): Bot {
  const rule = TRANSITIONS[event.type];
  if (!rule.from.includes(bot.status)) {
    throw new CodexError('invalid_transition', `cannot ${event.type.replace('_', ' ')} bot ${bot.id} in status ${bot.status}`, {
      details: { bot_id: bot.id, from: bot.status, event: event.type },
    });
  }
  const now = isoTime(nowMs);
  const next: Bot = { ...bot, status: rule.to };
  switch (event.type) {
    case 'start':
      next.desired_state = 'running';
      next.next_restart_at = null;
      if (bot.status === 'error') {
        next.failure_count = 0;
        next.quarantined_at = null;
      }
      return next;
    case 'spawned':
      return { ...next, process_id: event.pid, process_started_at: event.startedAt, sandbox_id: event.sandboxId ?? null, started_at: now, exit_code: null, last_error: null };
    case 'spawn_failed':
      return {
        ...next,
        last_error: event.error,
        error_count: bot.error_count + 1,
        failure_count: bot.failure_count + (event.countsAsFailure ? 1 : 0),
        process_id: null,
        process_started_at: null,
        sandbox_id: null,
      };
    case 'stop':
      next.desired_state = 'stopped';
      next.next_restart_at = null;
      return next;
    case 'exited':
      return appendPerformanceLog(
        { ...next, stopped_at: now, exit_code: event.exitCode, process_id: null, process_started_at: null, sandbox_id: null },
        { timestamp: now, event: 'stopped', status: 'stopped', reason: event.reason ?? 'stopped by request' },
      );
    case 'failed':
      return {
        ...next,
        last_error: event.error,
        error_count: bot.error_count + 1,
        failure_count: bot.failure_count + 1,
        exit_code: event.exitCode ?? null,
        stopped_at: now,
        process_id: null,
        process_started_at: null,
        sandbox_id: null,
      };
    case 'restart':
      next.next_restart_at = null;
      return next;
    case 'quarantine':
      return { ...next, last_error: event.error, quarantined_at: now, next_restart_at: null };
    case 'reconcile':
      return appendPerformanceLog(
        { ...next, last_error: event.error, stopped_at: now, process_id: null, process_started_at: null, sandbox_id: null },
        { timestamp: now, event: 'stopped', status: 'stopped', reason: event.error },
      );
  }
}
