// SPDX-License-Identifier: Apache-2.0
// Sender-side ACK lifecycle (spec §3.4): RECEIVED timeout, retries with a new message id and the same token,
// forward-only stages, late-ACK audit, every timer cleared on every path.
import type { Clock, Logger, RandomSource } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import type { AckPayload } from './ack';
import { isTerminalStage } from './ack';
import { retryEnvelope } from './envelope';
import { AckStage, ErrorCode } from './gen/common';
import type { Envelope } from './gen/common';

/** What `send` reports: the router's SendMessage answer. */
export interface SendOutcome {
  accepted: boolean;
  reason: string;
}

/** One transmission attempt of a logical operation. */
export interface AttemptRecord {
  messageId: string;
  sentAtMs: number;
  stage: AckStage;
  errorCode: ErrorCode;
  note: string;
  timedOutAtMs?: number;
  /** ACKs that arrived after this attempt timed out (kept for audit; the attempt stays TIMED_OUT). */
  lateAcks: { ack: AckPayload; atMs: number }[];
}

/** The result of a logical operation once it is terminal (or reached the awaited stage). */
export interface OperationSnapshot {
  token: string;
  stage: AckStage;
  errorCode: ErrorCode;
  note: string;
  /** The message id whose ACK first reached the current stage. */
  ackedMessageId?: string;
  attempts: readonly AttemptRecord[];
  /** ACKs received after the operation became terminal (audit only). */
  lateAcks: readonly AckPayload[];
}

/** Options of {@link AckLifecycleManager}. */
export interface AckLifecycleOptions {
  /** Sends one attempt (e.g. RouterClient.sendMessage). */
  send(envelope: Envelope): Promise<SendOutcome>;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
  /** Time from accepted send to RECEIVED; default 10 000 ms. */
  receivedTimeoutMs?: number;
  /** Attempts per logical operation, first included; default 3. */
  maxAttempts?: number;
  /** Backoff before a retry: initial 200 ms, doubling, at most 2000 ms. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** How long a finished operation is kept for late-ACK audit and `get`; default 600 000 ms. */
  retentionMs?: number;
  /** At most this many finished operations are kept (oldest dropped first); default 10 000. */
  maxRetained?: number;
}

interface Operation {
  snapshot: OperationSnapshot & { attempts: AttemptRecord[]; lateAcks: AckPayload[] };
  envelope: Envelope;
  timer?: unknown;
  waiters: { stage: AckStage; resolve: (s: OperationSnapshot) => void }[];
  done: boolean;
  /** Message ids that route ACKs to this operation. */
  aliases: string[];
}

const DUPLICATE_RE = /^Duplicate of (.+) suppressed$/;

/**
 * Tracks outgoing envelopes until their ACK lifecycle ends. Feed it every ACK you receive with {@link handleAck}.
 */
export class AckLifecycleManager {
  private readonly ops = new Map<string, Operation>();
  private readonly byMessageId = new Map<string, Operation>();
  /** Finished operations in finishing order, with the time they finished (pruned from the front). */
  private readonly finished = new Map<Operation, number>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffInitial: number;
  private readonly backoffMax: number;
  private closed = false;

  constructor(private readonly options: AckLifecycleOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.timeoutMs = options.receivedTimeoutMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.backoffInitial = options.backoffInitialMs ?? 200;
    this.backoffMax = options.backoffMaxMs ?? 2000;
  }

  /**
   * Sends `envelope` and tracks it. The operation key is its idempotency token (the message id when empty).
   * Resolves with the snapshot once the operation reaches `until` (default RECEIVED) or a terminal stage.
   * A refused send (accepted=false) ends the operation REJECTED with the router's reason as note.
   * @throws whatever `send` throws (transport failure): nothing is tracked then.
   */
  async send(envelope: Envelope, until: AckStage = AckStage.RECEIVED): Promise<OperationSnapshot> {
    if (this.closed) throw new Error('AckLifecycleManager is closed');
    const token = envelope.idempotencyToken || envelope.messageId;
    const op: Operation = {
      snapshot: { token, stage: AckStage.ACK_STAGE_UNSPECIFIED, errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED, note: '', attempts: [], lateAcks: [] },
      envelope,
      waiters: [],
      done: false,
      aliases: [],
    };
    this.prune();
    const previous = this.ops.get(token);
    if (previous?.done) this.forget(previous);
    this.ops.set(token, op);
    const result = this.wait(op, until);
    try {
      await this.attempt(op, envelope);
    } catch (err) {
      this.finish(op);
      throw err;
    }
    return result;
  }

  /** Applies an ACK payload; returns false when it is for no message we track. */
  handleAck(ack: AckPayload): boolean {
    this.prune();
    const op = this.byMessageId.get(ack.ackForMessageId);
    if (!op) return false;
    const now = this.clock.now();
    const attempt = op.snapshot.attempts.find((a) => a.messageId === ack.ackForMessageId);
    if (attempt) {
      if (attempt.stage === AckStage.TIMED_OUT) {
        attempt.lateAcks.push({ ack, atMs: now });
        this.logger.info('late ACK for timed-out attempt', { messageId: ack.ackForMessageId, stage: ack.ackStage });
      } else if (ack.ackStage > attempt.stage && !isTerminalStage(attempt.stage)) {
        attempt.stage = ack.ackStage;
      }
    }
    const snap = op.snapshot;
    if (op.done || isTerminalStage(snap.stage) || snap.stage === AckStage.FULFILLED) {
      snap.lateAcks.push(ack);
      return true;
    }
    if (ack.ackStage <= snap.stage) return true; // stages only move forward
    snap.stage = ack.ackStage;
    snap.errorCode = ack.errorCode;
    snap.note = ack.note ?? '';
    snap.ackedMessageId = ack.ackForMessageId;
    this.clearTimer(op); // any stage ≥ RECEIVED stops the RECEIVED timer and cancels a pending retry
    if (isTerminalStage(ack.ackStage) || ack.ackStage === AckStage.FULFILLED) this.finish(op);
    this.notify(op);
    return true;
  }

  /** The current snapshot of an operation by token (or first message id). */
  get(token: string): OperationSnapshot | undefined {
    return this.ops.get(token)?.snapshot;
  }

  /** Operations tracked (live and retained finished ones). */
  get size(): number {
    return this.ops.size;
  }

  /** Number of live timers (RECEIVED timeouts and pending retries); 0 when idle. */
  get pendingTimers(): number {
    let n = 0;
    for (const op of this.ops.values()) if (op.timer !== undefined) n++;
    return n;
  }

  /** Clears every timer and resolves every waiter with the current snapshot. */
  close(): void {
    this.closed = true;
    for (const op of this.ops.values()) {
      this.finish(op);
      this.notify(op, true);
    }
  }

  private async attempt(op: Operation, envelope: Envelope): Promise<void> {
    const record: AttemptRecord = {
      messageId: envelope.messageId,
      sentAtMs: this.clock.now(),
      stage: AckStage.ACK_STAGE_UNSPECIFIED,
      errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED,
      note: '',
      lateAcks: [],
    };
    op.snapshot.attempts.push(record);
    this.alias(op, envelope.messageId);
    const outcome = await this.options.send(envelope);
    if (op.done) return;
    const dup = DUPLICATE_RE.exec(outcome.reason);
    if (dup) this.alias(op, dup[1]!); // an ACK for the original completes this operation too
    if (!outcome.accepted) {
      op.snapshot.stage = AckStage.REJECTED;
      op.snapshot.note = outcome.reason;
      op.snapshot.errorCode = /^buffer_full/.test(outcome.reason) ? ErrorCode.BUFFER_FULL : ErrorCode.VALIDATION_ERROR;
      record.stage = AckStage.REJECTED;
      this.finish(op);
      this.notify(op);
      return;
    }
    if (op.snapshot.stage >= AckStage.RECEIVED) return;
    op.timer = this.clock.setTimeout(() => this.onTimeout(op, record), this.timeoutMs);
  }

  private onTimeout(op: Operation, record: AttemptRecord): void {
    op.timer = undefined;
    if (op.done || op.snapshot.stage >= AckStage.RECEIVED) return;
    record.stage = AckStage.TIMED_OUT;
    record.errorCode = ErrorCode.ACK_TIMEOUT;
    record.note = 'received_timeout';
    record.timedOutAtMs = this.clock.now();
    const n = op.snapshot.attempts.length;
    if (n >= this.maxAttempts || this.closed) {
      op.snapshot.stage = AckStage.TIMED_OUT;
      op.snapshot.errorCode = ErrorCode.ACK_TIMEOUT;
      op.snapshot.note = 'received_timeout';
      this.finish(op);
      this.notify(op);
      return;
    }
    const delay = Math.min(this.backoffMax, this.backoffInitial * 2 ** (n - 1));
    op.timer = this.clock.setTimeout(() => {
      op.timer = undefined;
      if (op.done) return;
      op.envelope = retryEnvelope(op.envelope, { clock: this.clock, ...(this.options.random ? { random: this.options.random } : {}) });
      this.attempt(op, op.envelope).catch((err: unknown) => {
        this.logger.warn('retry send failed', { error: String(err) });
        op.snapshot.stage = AckStage.FAILED;
        op.snapshot.errorCode = ErrorCode.AGENT_UNAVAILABLE;
        op.snapshot.note = String(err);
        this.finish(op);
        this.notify(op);
      });
    }, delay);
  }

  private wait(op: Operation, stage: AckStage): Promise<OperationSnapshot> {
    return new Promise((resolve) => {
      op.waiters.push({ stage, resolve });
    });
  }

  private notify(op: Operation, all = false): void {
    const s = op.snapshot;
    op.waiters = op.waiters.filter((w) => {
      if (all || op.done || s.stage >= w.stage) {
        w.resolve({ ...s, attempts: [...s.attempts], lateAcks: [...s.lateAcks] });
        return false;
      }
      return true;
    });
  }

  private clearTimer(op: Operation): void {
    if (op.timer !== undefined) this.clock.clearTimeout(op.timer as never);
    op.timer = undefined;
  }

  private finish(op: Operation): void {
    this.clearTimer(op);
    if (!op.done) this.finished.set(op, this.clock.now());
    op.done = true;
  }

  private alias(op: Operation, messageId: string): void {
    this.byMessageId.set(messageId, op);
    op.aliases.push(messageId);
  }

  /** Drops finished operations past the retention time or beyond the retained count, oldest first. */
  private prune(): void {
    const cutoff = this.clock.now() - (this.options.retentionMs ?? 600_000);
    const max = this.options.maxRetained ?? 10_000;
    for (const [op, at] of this.finished) {
      if (at > cutoff && this.finished.size <= max) break;
      this.forget(op);
    }
  }

  private forget(op: Operation): void {
    this.finished.delete(op);
    if (this.ops.get(op.snapshot.token) === op) this.ops.delete(op.snapshot.token);
    for (const id of op.aliases) if (this.byMessageId.get(id) === op) this.byMessageId.delete(id);
  }
}
