// SPDX-License-Identifier: Apache-2.0
// Human-in-the-loop decisions (spec §3.14) as a durable queue of files a person answers with `ecps hitl`:
// `<dir>/pending/<id>.json` holds an invocation until `<dir>/decided/<id>.json` (written atomically by the CLI or
// by `answerHitl`) holds its decision. Decide blocks until then, or until the deadline, when the configured
// fallback decides (or the call fails UNAVAILABLE). A retried identical invocation attaches to the pending one.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger, systemClock } from '@ecps/core';
import { readFileIfExists, writeFileAtomic } from '@ecps/sw4rm';
import { HitlReasonType } from '@ecps/sw4rm/proto';
import type { HitlDecision, HitlInvocation } from '@ecps/sw4rm/proto';

/** What a person can answer. */
export const HITL_ACTIONS = ['approve', 'deny', 'modify', 'defer'] as const;
export type HitlAction = (typeof HITL_ACTIONS)[number];

/** Where decisions come from: the file queue by default, or any other (chat, ticketing, ...). */
export interface HitlBackend {
  /** Resolves with the decision; rejects (EcpsError UNAVAILABLE/TIMEOUT) when none can be had. */
  decide(invocation: HitlInvocation): Promise<HitlDecision>;
}

/** A pending invocation as stored (and as `ecps hitl list` shows it). */
export interface PendingHitl {
  id: string;
  reason_type: string;
  priority: number;
  proposed_actions: string[];
  /** The context as text when it is UTF-8, else base64 in `context_b64`. */
  context?: string;
  context_b64?: string;
  created_at: string;
  /** When the fallback decides (ISO-8601), if a deadline is configured. */
  deadline?: string;
}

/** A stored decision. */
export interface StoredDecision {
  id: string;
  action: HitlAction;
  rationale: string;
  decision_payload_b64: string;
  decided_at: string;
  decided_by: string;
}

/** Options of {@link FileHitlQueue}. */
export interface FileHitlQueueOptions {
  /** Queue directory (created if missing). */
  dir: string;
  /** How often answers are looked for; default 250 ms. */
  pollIntervalMs?: number;
  /** After this long without an answer the fallback decides; default none (wait until the caller gives up). */
  deadlineMs?: number;
  /** The decision taken at the deadline; without one the call fails UNAVAILABLE (`hitl_unavailable`). */
  fallback?: { action: HitlAction; rationale?: string };
  /** Answered invocations are kept this long (a retry gets the same answer); default 3 600 000 ms. */
  retentionMs?: number;
  /** Told about each new question once (e.g. to send it to reviewers as a HITL_INVOCATION envelope); errors are logged. */
  onInvocation?(pending: PendingHitl): void | Promise<void>;
  clock?: Clock;
  logger?: Logger;
}

interface Waiting {
  entry: PendingHitl;
  waiters: { resolve(d: HitlDecision): void; reject(e: unknown): void }[];
  deadline?: TimerHandle;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function contentId(inv: HitlInvocation): string {
  const h = createHash('sha256');
  h.update(`${inv.reasonType}\n${inv.priority}\n${inv.proposedActions.join('\u0000')}\n`);
  h.update(inv.context);
  return h.digest('hex').slice(0, 20);
}

function toDecision(d: StoredDecision): HitlDecision {
  return { action: d.action, decisionPayload: new Uint8Array(Buffer.from(d.decision_payload_b64, 'base64')), rationale: d.rationale };
}

/** The default backend: a directory of pending invocations and decisions. */
export class FileHitlQueue implements HitlBackend {
  private readonly waiting = new Map<string, Waiting>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(private readonly options: FileHitlQueueOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    mkdirSync(join(options.dir, 'pending'), { recursive: true });
    mkdirSync(join(options.dir, 'decided'), { recursive: true });
  }

  /** Blocks until a person (or the fallback at the deadline) decides. @throws EcpsError UNAVAILABLE (no fallback), INVALID_ARGUMENT. */
  decide(invocation: HitlInvocation): Promise<HitlDecision> {
    if (this.closed) return Promise.reject(new EcpsError('UNAVAILABLE', 'hitl_unavailable: the queue is closed'));
    const id = contentId(invocation);
    const decided = readDecision(this.options.dir, id);
    if (decided) return Promise.resolve(toDecision(decided));
    return new Promise((resolve, reject) => {
      let w = this.waiting.get(id);
      if (!w) {
        const now = this.clock.now();
        const deadlineMs = this.options.deadlineMs;
        let context: Pick<PendingHitl, 'context' | 'context_b64'>;
        try {
          context = { context: utf8.decode(invocation.context) };
        } catch {
          context = { context_b64: Buffer.from(invocation.context).toString('base64') };
        }
        const entry: PendingHitl = {
          id,
          reason_type: HitlReasonType[invocation.reasonType] ?? String(invocation.reasonType),
          priority: invocation.priority,
          proposed_actions: [...invocation.proposedActions],
          ...context,
          created_at: new Date(now).toISOString(),
          ...(deadlineMs ? { deadline: new Date(now + deadlineMs).toISOString() } : {}),
        };
        const pendingPath = join(this.options.dir, 'pending', `${id}.json`);
        if (readFileIfExists(pendingPath) === undefined) writeFileAtomic(pendingPath, `${JSON.stringify(entry, null, 2)}\n`);
        w = { entry, waiters: [] };
        if (deadlineMs) w.deadline = this.clock.setTimeout(() => this.onDeadline(id), deadlineMs);
        this.waiting.set(id, w);
        this.logger.info('HITL decision requested', { id, reason: entry.reason_type });
        const announce = this.options.onInvocation;
        if (announce) {
          Promise.resolve()
            .then(() => announce({ ...entry }))
            .catch((err: unknown) => this.logger.warn('HITL invocation not announced', { id, error: String(err) }));
        }
      }
      w.waiters.push({ resolve, reject });
      this.arm();
    });
  }

  /**
   * Answers a pending invocation now (a reviewer's decision envelope, a UI): recorded like `ecps hitl answer`, and
   * the waiting callers are answered at once.
   * @throws ValidationError INVALID_ARGUMENT; EcpsError NOT_FOUND (not pending), ALREADY_EXISTS (answered).
   */
  answer(id: string, action: string, options: { rationale?: string; payload?: Uint8Array; by?: string } = {}): StoredDecision {
    const d = answerHitl(this.options.dir, id, action, { ...options, clock: this.clock });
    const w = this.waiting.get(id);
    if (w) this.settle(id, w, d);
    return d;
  }

  /** Pending invocations, oldest first (what `ecps hitl list` shows). */
  list(): PendingHitl[] {
    return listPendingHitl(this.options.dir);
  }

  /** Looks for answers now (the poll timer does this on its own). */
  poll(): void {
    for (const [id, w] of this.waiting) {
      const d = readDecision(this.options.dir, id);
      if (d) this.settle(id, w, d);
    }
    this.prune();
  }

  /** Stops polling; waiting callers fail UNAVAILABLE. Pending files stay for the next start. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    for (const [id, w] of this.waiting) {
      if (w.deadline !== undefined) this.clock.clearTimeout(w.deadline);
      for (const x of w.waiters) x.reject(new EcpsError('UNAVAILABLE', 'hitl_unavailable: shutting down'));
      this.waiting.delete(id);
    }
  }

  private arm(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.poll();
      if (this.waiting.size) this.arm();
    }, this.options.pollIntervalMs ?? 250);
  }

  private onDeadline(id: string): void {
    const w = this.waiting.get(id);
    if (!w) return;
    const fallback = this.options.fallback;
    if (!fallback) {
      this.waiting.delete(id);
      for (const x of w.waiters) x.reject(new EcpsError('UNAVAILABLE', `hitl_unavailable: nobody decided ${id} in time`));
      return;
    }
    try {
      const d = answerHitl(this.options.dir, id, fallback.action, { rationale: fallback.rationale ?? 'fallback: no human decision before the deadline', by: 'fallback', clock: this.clock });
      this.settle(id, w, d);
    } catch (err) {
      // a person answered in the meantime: that answer wins
      const d = readDecision(this.options.dir, id);
      if (d) this.settle(id, w, d);
      else for (const x of w.waiters) x.reject(err);
    }
  }

  private settle(id: string, w: Waiting, d: StoredDecision): void {
    this.waiting.delete(id);
    if (w.deadline !== undefined) this.clock.clearTimeout(w.deadline);
    try {
      unlinkSync(join(this.options.dir, 'pending', `${id}.json`));
    } catch {
      // already gone
    }
    this.logger.info('HITL decision taken', { id, action: d.action, by: d.decided_by });
    for (const x of w.waiters) x.resolve(toDecision(d));
  }

  /** Decisions older than the retention time are removed (their pending files are gone already). */
  private prune(): void {
    const cutoff = this.clock.now() - (this.options.retentionMs ?? 3_600_000);
    for (const file of readdirSync(join(this.options.dir, 'decided'))) {
      const d = readDecision(this.options.dir, file.replace(/\.json$/, ''));
      if (d && Date.parse(d.decided_at) < cutoff && !this.waiting.has(d.id)) unlinkSync(join(this.options.dir, 'decided', file));
    }
  }
}

function readDecision(dir: string, id: string): StoredDecision | undefined {
  const text = readFileIfExists(join(dir, 'decided', `${id}.json`));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as StoredDecision;
  } catch (err) {
    throw new EcpsError('LOG_CORRUPT', `HITL decision ${id} is not JSON`, { cause: err });
  }
}

/** Pending invocations in a queue directory, oldest first. @throws EcpsError IO_ERROR, LOG_CORRUPT. */
export function listPendingHitl(dir: string): PendingHitl[] {
  let files: string[];
  try {
    files = readdirSync(join(dir, 'pending')).filter((f) => f.endsWith('.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new EcpsError('IO_ERROR', `cannot read ${dir}: ${String(err)}`, { cause: err });
  }
  const out: PendingHitl[] = [];
  for (const f of files) {
    const text = readFileIfExists(join(dir, 'pending', f));
    if (text === undefined) continue; // answered meanwhile
    out.push(JSON.parse(text) as PendingHitl);
  }
  return out.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/**
 * Answers a pending invocation (what `ecps hitl answer` does): writes the decision atomically.
 * @throws ValidationError INVALID_ARGUMENT for an unknown action; EcpsError NOT_FOUND (not pending), ALREADY_EXISTS (answered).
 */
export function answerHitl(
  dir: string,
  id: string,
  action: string,
  options: { rationale?: string; payload?: Uint8Array; by?: string; clock?: Clock } = {},
): StoredDecision {
  if (!(HITL_ACTIONS as readonly string[]).includes(action)) throw new ValidationError('INVALID_ARGUMENT', `action must be one of ${HITL_ACTIONS.join(', ')}`);
  if (!/^[0-9a-f]{20}$/.test(id)) throw new ValidationError('INVALID_ARGUMENT', `not a HITL invocation id: ${id}`);
  if (readDecision(dir, id)) throw new EcpsError('ALREADY_EXISTS', `invocation ${id} is already decided`);
  if (readFileIfExists(join(dir, 'pending', `${id}.json`)) === undefined) throw new EcpsError('NOT_FOUND', `no pending invocation ${id}`);
  const decision: StoredDecision = {
    id,
    action: action as HitlAction,
    rationale: options.rationale ?? '',
    decision_payload_b64: Buffer.from(options.payload ?? new Uint8Array()).toString('base64'),
    decided_at: new Date((options.clock ?? systemClock).now()).toISOString(),
    decided_by: options.by ?? process.env['USER'] ?? 'operator',
  };
  mkdirSync(join(dir, 'decided'), { recursive: true });
  writeFileAtomic(join(dir, 'decided', `${id}.json`), `${JSON.stringify(decision, null, 2)}\n`);
  return decision;
}
