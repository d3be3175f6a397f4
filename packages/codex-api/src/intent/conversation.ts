// SPDX-License-Identifier: Apache-2.0
// Conversation: parses an utterance, keeps per-session context (last bot, a pending confirmation or clarification),
// checks permissions and runs the action through the same service layer as REST.
import { isCodexError, type BotStatus } from '@ecps/codex-registry';
import { systemClock, type Clock } from '@ecps/core';
import { isApiError } from '../errors';
import { hasPermission, type Permission, type Principal } from '../permissions';
import type { BotService } from '../service';
import { HELP_TEXT, parseIntent, type Intent, type ParsedIntent } from './parser';

export type ActionStatus = 'executed' | 'needs_confirmation' | 'needs_clarification' | 'denied' | 'failed';

export interface ConversationAction {
  intent: Intent;
  status: ActionStatus;
  bot_id?: string;
  result?: unknown;
}

export interface ConversationalResponse {
  type: 'response';
  session_id: string;
  user_id: string;
  response: string;
  actions: ConversationAction[];
  context: { last_bot: string | null; pending: 'confirmation' | 'clarification' | null };
  timestamp: string;
  details?: { parsed: ParsedIntent };
}

interface Session {
  lastBot: string | null;
  pending: { kind: 'confirmation' | 'clarification'; parsed: ParsedIntent; options: string[] } | null;
  seenAt: number;
}

const PERMISSIONS: Partial<Record<Intent, Permission[]>> = {
  start_bot: ['bot:start'],
  stop_bot: ['bot:stop'],
  restart_bot: ['bot:start', 'bot:stop'],
  bot_status: ['bot:read'],
  list_bots: ['bot:read'],
  create_bot: ['bot:create'],
};

export interface ConversationOptions {
  service: BotService;
  clock?: Clock;
  /** Idle time after which a session's context is forgotten (120 s). */
  sessionTtlMs?: number;
  /** Sessions kept at most; the least recently used go first (10 000). */
  maxSessions?: number;
}

/** Turns utterances into bot actions for a principal, with the decisions of the intent parser. */
export class Conversation {
  private readonly sessions = new Map<string, Session>();
  private readonly clock: Clock;
  private readonly ttl: number;
  private readonly maxSessions: number;

  constructor(private readonly options: ConversationOptions) {
    this.clock = options.clock ?? systemClock;
    this.ttl = options.sessionTtlMs ?? 120_000;
    this.maxSessions = options.maxSessions ?? 10_000;
  }

  /** Handles one utterance. Never throws for what the user said: failures become a `failed` action. */
  async handle(principal: Principal, message: string, options: { sessionId?: string; transcriptConfidence?: number } = {}): Promise<ConversationalResponse> {
    const sessionId = options.sessionId ?? 'default';
    const session = this.session(principal.sub, sessionId);
    const { bots } = await this.options.service.registry.bots.list({ limit: 1000 });
    const refs = bots.map((b) => ({ id: b.id, name: b.name }));
    let parsed = parseIntent(message, { bots: refs, lastBot: session.lastBot, ...(options.transcriptConfidence === undefined ? {} : { transcriptConfidence: options.transcriptConfidence }) });

    // Answers to a pending question.
    const pending = session.pending;
    session.pending = null;
    if (pending?.kind === 'confirmation' && (parsed.intent === 'confirm' || parsed.intent === 'deny')) {
      if (parsed.intent === 'deny') return this.reply(principal, sessionId, session, 'Cancelled.', []);
      parsed = { ...pending.parsed, confidence: 1, needs_confirmation: false, needs_clarification: false };
    } else if (pending?.kind === 'clarification' && pending.options.length > 0) {
      const answer = message.trim().toLowerCase();
      const byNumber = /^\d+$/.test(answer) ? pending.options[Number(answer) - 1] : undefined;
      const byName = pending.options.find((id) => id === answer || bots.find((b) => b.id === id)?.name.toLowerCase() === answer);
      const chosen = byNumber ?? byName;
      if (chosen) parsed = { ...pending.parsed, entities: { ...pending.parsed.entities, bot_id: chosen }, confidence: 1, needs_clarification: false, alternatives: [] };
    }

    const action: ConversationAction = { intent: parsed.intent, status: 'executed', ...(parsed.entities.bot_id ? { bot_id: parsed.entities.bot_id } : {}) };
    const missing = (PERMISSIONS[parsed.intent] ?? []).filter((p) => !hasPermission(principal, p));
    if (missing.length > 0 && parsed.intent !== 'unknown') {
      return this.reply(principal, sessionId, session, `You are not allowed to do that (missing ${missing.join(', ')}).`, [{ ...action, status: 'denied' }], parsed);
    }
    if (parsed.intent === 'unknown') return this.reply(principal, sessionId, session, HELP_TEXT, [], parsed);
    if (parsed.intent === 'help') return this.reply(principal, sessionId, session, HELP_TEXT.replace("Sorry, I didn't understand. ", ''), [{ ...action }], parsed);
    if (parsed.intent === 'confirm' || parsed.intent === 'deny') return this.reply(principal, sessionId, session, 'There is nothing to confirm.', [], parsed);
    if (parsed.needs_clarification) {
      session.pending = { kind: 'clarification', parsed, options: parsed.alternatives.map((a) => a.bot_id!).filter(Boolean) };
      return this.reply(principal, sessionId, session, parsed.clarification ?? HELP_TEXT, [{ ...action, status: 'needs_clarification' }], parsed);
    }
    if (parsed.needs_confirmation) {
      session.pending = { kind: 'confirmation', parsed, options: [] };
      return this.reply(principal, sessionId, session, parsed.clarification!, [{ ...action, status: 'needs_confirmation' }], parsed);
    }
    try {
      const { text, result } = await this.execute(principal, parsed);
      if (parsed.entities.bot_id) session.lastBot = parsed.entities.bot_id;
      return this.reply(principal, sessionId, session, text, [{ ...action, status: 'executed', result }], parsed);
    } catch (error) {
      if (isApiError(error, 'forbidden')) return this.reply(principal, sessionId, session, error.message, [{ ...action, status: 'denied' }], parsed);
      const text = isCodexError(error) || isApiError(error) ? error.message : 'The action failed.';
      return this.reply(principal, sessionId, session, text, [{ ...action, status: 'failed', result: { error: text } }], parsed);
    }
  }

  private async execute(principal: Principal, parsed: ParsedIntent): Promise<{ text: string; result: unknown }> {
    const service = this.options.service;
    const id = parsed.entities.bot_id!;
    switch (parsed.intent) {
      case 'start_bot': {
        const r = await service.start(principal, id);
        return { text: r.status === 'already_running' ? `Bot ${id} is already running.` : `Started bot ${id}; it is ${r.bot.status}.`, result: { status: r.status, bot_status: r.bot.status } };
      }
      case 'stop_bot': {
        const r = await service.stop(principal, id);
        return { text: r.status === 'not_running' ? `Bot ${id} is not running.` : `Stopped bot ${id}.`, result: { status: r.status, bot_status: r.bot.status } };
      }
      case 'restart_bot': {
        await service.stop(principal, id, 'restarted by conversation');
        const r = await service.start(principal, id);
        return { text: `Restarted bot ${id}; it is ${r.bot.status}.`, result: { status: r.status, bot_status: r.bot.status } };
      }
      case 'bot_status': {
        const bot = await service.get(principal, id);
        return { text: `Bot ${bot.id} (${bot.name}) is ${bot.status}.`, result: { bot_id: bot.id, status: bot.status } };
      }
      case 'list_bots': {
        const filter = parsed.entities.status_filter;
        const r = await service.list(principal, { limit: 1000, ...(filter ? { status: filter as BotStatus } : {}) });
        const names = r.bots.map((b) => `${b.id} (${b.status})`);
        return { text: names.length === 0 ? (filter ? `No bots are ${filter}.` : 'There are no bots yet.') : `${filter ? `Bots ${filter}` : 'Bots'}: ${names.join(', ')}.`, result: { total: r.total, bots: r.bots.map((b) => ({ id: b.id, status: b.status })) } };
      }
      case 'create_bot': {
        const e = parsed.entities;
        const bot = await service.create(principal, { id: e.id, name: e.name, blueprint: e.blueprint, ...(e.role ? { role: e.role } : {}) });
        return { text: `Created bot ${bot.id} (${bot.name}). Its blueprint ${bot.blueprint} must exist under the bots directory before it can start.`, result: { bot_id: bot.id, status: bot.status } };
      }
      default:
        return { text: HELP_TEXT, result: null };
    }
  }

  private reply(principal: Principal, sessionId: string, session: Session, response: string, actions: ConversationAction[], parsed?: ParsedIntent): ConversationalResponse {
    return {
      type: 'response',
      session_id: sessionId,
      user_id: principal.sub,
      response,
      actions,
      context: { last_bot: session.lastBot, pending: session.pending?.kind ?? null },
      timestamp: new Date(this.clock.now()).toISOString(),
      ...(parsed ? { details: { parsed } } : {}),
    };
  }

  private session(user: string, sessionId: string): Session {
    const key = `${user}\u0000${sessionId}`;
    const now = this.clock.now();
    let session = this.sessions.get(key);
    if (session && now - session.seenAt > this.ttl) session = undefined;
    session ??= { lastBot: null, pending: null, seenAt: now };
    session.seenAt = now;
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }
}
