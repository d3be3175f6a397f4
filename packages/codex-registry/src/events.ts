// SPDX-License-Identifier: Apache-2.0
// Every change Codex makes is an event, published after it is durable. A management API numbers and streams them.
import type { Bot, BotStatus } from './schema';
import type { Incident } from './incidents';

/** The events, by `type`, with their `data`. */
export interface CodexEventMap {
  'bot.created': { bot: Bot };
  'bot.updated': { bot: Bot };
  'bot.deleted': { bot_id: string };
  'bot.status': { bot_id: string; from: BotStatus; to: BotStatus; reason?: string; exit_code?: number };
  'bot.metrics': { bot_id: string; cpu_load: number; memory_usage_mb: number };
  incident: { incident: Incident };
  'system.shutdown': Record<string, never>;
}

export type CodexEventType = keyof CodexEventMap;

/** One event: `ts` is the ISO time it was published; `remote` is true when another server made the change. */
export type CodexEvent = { [K in CodexEventType]: { type: K; ts: string; data: CodexEventMap[K]; remote?: boolean } }[CodexEventType];

export type CodexEventListener = (event: CodexEvent) => void;

/**
 * A synchronous in-process bus. Listeners run in subscription order; a listener that throws is reported to `onError`
 * and never stops the others or the writer that published.
 */
export class CodexEventBus {
  private readonly listeners = new Set<CodexEventListener>();

  constructor(private readonly onError: (error: unknown) => void = () => {}) {}

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: CodexEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish<K extends CodexEventType>(type: K, data: CodexEventMap[K], options: { remote?: boolean; ts?: string } = {}): void {
    const event = { type, ts: options.ts ?? new Date().toISOString(), data, ...(options.remote ? { remote: true } : {}) } as CodexEvent;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}

/** The events one committed write of `before` → `after` produces (`before` null: created; `after` null: deleted). */
export function publishBotChange(bus: CodexEventBus, before: Bot | null, after: Bot | null, options: { remote?: boolean } = {}): void {
  if (!after) {
    if (before) bus.publish('bot.deleted', { bot_id: before.id }, options);
    return;
  }
  if (!before) {
    bus.publish('bot.created', { bot: after }, options);
    return;
  }
  bus.publish('bot.updated', { bot: after }, options);
  if (before.status !== after.status) {
    const reason = after.status === 'failed' || after.status === 'error' ? after.last_error : after.status === 'stopped' ? stopReason(after) : null;
    bus.publish(
      'bot.status',
      {
        bot_id: after.id,
        from: before.status,
        to: after.status,
        ...(reason ? { reason } : {}),
        ...(after.exit_code !== null && (after.status === 'stopped' || after.status === 'failed') ? { exit_code: after.exit_code } : {}),
      },
      options,
    );
  }
}

function stopReason(bot: Bot): string | null {
  const last = bot.performance.logs.at(-1);
  return last?.event === 'stopped' ? (last.reason ?? null) : null;
}
