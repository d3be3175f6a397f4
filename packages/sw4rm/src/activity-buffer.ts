// SPDX-License-Identifier: Apache-2.0
// Persistent activity buffer: the SDK's envelope journal (spec §3.8). Write-through, atomic, never silently empty.
import { renameSync } from 'node:fs';
import type { Clock, Logger } from '@ecps/core';
import { EcpsError, silentLogger, systemClock } from '@ecps/core';
import type { AckPayload } from './ack';
import { isTerminalStage } from './ack';
import { envelopeToJson } from './envelope-json';
import { AckStage, ErrorCode } from './gen/common';
import type { Envelope } from './gen/common';
import type { FileLock } from './json-file';
import { acquireLock, readFileIfExists, writeFileAtomic } from './json-file';

/** One journal record, keyed by message id. */
export interface ActivityRecord {
  messageId: string;
  direction: 'in' | 'out';
  /** JSON-safe envelope: bytes as base64, 64-bit values as decimal strings. */
  envelope: Record<string, unknown>;
  idempotencyToken: string;
  ackStage: AckStage;
  errorCode: ErrorCode;
  ackNote: string;
  tsMs: number;
}

/** The persisted form. */
export interface ActivitySnapshot {
  version: '1.0';
  records: Record<string, ActivityRecord>;
  order: string[];
  tokens?: Record<string, { messageId: string; atMs: number }>;
}

/** Where snapshots live. `load` returns undefined for "no snapshot yet" and throws for a corrupt one. */
export interface ActivityStorage {
  load(): Promise<ActivitySnapshot | undefined>;
  save(snapshot: ActivitySnapshot): Promise<void>;
  close(): Promise<void>;
}

/** Raised when the buffer is at capacity after pruning; nothing is dropped. */
export class BufferFullError extends EcpsError {
  /** The SW4RM code for this condition. */
  readonly sw4rmCode = ErrorCode.BUFFER_FULL;
  constructor(message: string) {
    super('QUEUE_FULL', message);
    this.name = 'BufferFullError';
  }
}

function checkSnapshot(value: unknown, where: string): ActivitySnapshot {
  const s = value as Partial<ActivitySnapshot> | null;
  if (typeof s !== 'object' || s === null) throw new EcpsError('LOG_CORRUPT', `${where}: not a JSON object`);
  if (s.version !== '1.0') throw new EcpsError('LOG_CORRUPT', `${where}: unknown version ${String(s.version)}`);
  if (typeof s.records !== 'object' || s.records === null || !Array.isArray(s.order)) throw new EcpsError('LOG_CORRUPT', `${where}: records/order missing`);
  for (const id of s.order) if (!(id in s.records)) throw new EcpsError('LOG_CORRUPT', `${where}: order names unknown record ${id}`);
  return s as ActivitySnapshot;
}

/** Options of {@link jsonFileActivityStorage}. */
export interface JsonFileStorageOptions {
  /** Rename a corrupt file to `<name>.corrupt-<ts>` and start empty (ERROR log) instead of throwing. */
  allowDegradedStart?: boolean;
  logger?: Logger;
  clock?: Clock;
}

/**
 * JSON-file storage (default file `sw4rm_activity.json`), single writer (pid lock file taken on creation).
 * @throws EcpsError CONFLICT when another live process holds the lock.
 */
export function jsonFileActivityStorage(path = 'sw4rm_activity.json', options: JsonFileStorageOptions = {}): ActivityStorage {
  const lock: FileLock = acquireLock(path);
  const logger = options.logger ?? silentLogger;
  return {
    async load() {
      const text = readFileIfExists(path);
      if (text === undefined) return undefined;
      try {
        return checkSnapshot(JSON.parse(text), path);
      } catch (err) {
        const corrupt = err instanceof SyntaxError ? new EcpsError('LOG_CORRUPT', `${path}: malformed JSON`, { cause: err }) : err;
        if (!options.allowDegradedStart) throw corrupt;
        const moved = `${path}.corrupt-${Math.floor((options.clock ?? systemClock).now())}`;
        renameSync(path, moved);
        logger.error('activity buffer snapshot corrupt; starting empty', { path, movedTo: moved, error: String(corrupt) });
        return undefined;
      }
    },
    async save(snapshot) {
      writeFileAtomic(path, JSON.stringify(snapshot));
    },
    async close() {
      lock.release();
    },
  };
}

/** In-memory storage (tests, ephemeral agents); `save` keeps a deep copy. */
export function memoryActivityStorage(initial?: ActivitySnapshot): ActivityStorage & { readonly saved: ActivitySnapshot | undefined } {
  let saved = initial ? structuredClone(initial) : undefined;
  return {
    get saved() {
      return saved;
    },
    async load() {
      return saved ? checkSnapshot(structuredClone(saved), 'memory') : undefined;
    },
    async save(snapshot) {
      saved = structuredClone(snapshot);
    },
    async close() {},
  };
}

/** Options of {@link ActivityBuffer.open}. */
export interface ActivityBufferOptions {
  storage: ActivityStorage;
  /** Default 10 000. */
  maxItems?: number;
  /** Token index window; default 3 600 000 ms. */
  dedupWindowMs?: number;
  clock?: Clock;
}

/**
 * The journal. Every mutation is saved before it returns; if the save fails the change is rolled back and the
 * error propagates.
 */
export class ActivityBuffer {
  private state: Required<ActivitySnapshot>;
  private readonly maxItems: number;
  private readonly windowMs: number;
  private readonly clock: Clock;

  private constructor(
    private readonly storage: ActivityStorage,
    snapshot: ActivitySnapshot | undefined,
    options: ActivityBufferOptions,
  ) {
    this.state = { version: '1.0', records: {}, order: [], tokens: {}, ...snapshot } as Required<ActivitySnapshot>;
    this.maxItems = options.maxItems ?? 10_000;
    this.windowMs = options.dedupWindowMs ?? 3_600_000;
    this.clock = options.clock ?? systemClock;
  }

  /** Loads the snapshot (missing → empty). @throws EcpsError LOG_CORRUPT for a corrupt one. */
  static async open(options: ActivityBufferOptions): Promise<ActivityBuffer> {
    return new ActivityBuffer(options.storage, await options.storage.load(), options);
  }

  get size(): number {
    return this.state.order.length;
  }

  /** Journals an outgoing envelope. @throws BufferFullError, or the storage's error. */
  recordOutgoing(envelope: Envelope): Promise<ActivityRecord> {
    return this.record('out', envelope);
  }

  /** Journals an incoming envelope. @throws BufferFullError, or the storage's error. */
  recordIncoming(envelope: Envelope): Promise<ActivityRecord> {
    return this.record('in', envelope);
  }

  get(messageId: string): ActivityRecord | undefined {
    return this.state.records[messageId];
  }

  /** The message id recorded for a token within the window. */
  byToken(token: string): string | undefined {
    const t = this.state.tokens[token];
    return t && t.atMs + this.windowMs > this.clock.now() ? t.messageId : undefined;
  }

  /** Records at stage UNSPECIFIED, RECEIVED or READ, oldest first. */
  unacked(): ActivityRecord[] {
    return this.state.order.map((id) => this.state.records[id]!).filter((r) => r.ackStage <= AckStage.READ);
  }

  /** Unacked outgoing records: the retry candidates after a restart. */
  reconcile(): ActivityRecord[] {
    return this.unacked().filter((r) => r.direction === 'out');
  }

  /**
   * Applies an ACK with the lifecycle rules: forward-only, terminal stays terminal (TIMED_OUT included).
   * Returns false when the ACK names no record or changes nothing. @throws the storage's error.
   */
  async applyAck(ack: AckPayload): Promise<boolean> {
    const rec = this.state.records[ack.ackForMessageId];
    if (!rec || isTerminalStage(rec.ackStage) || rec.ackStage === AckStage.FULFILLED || ack.ackStage <= rec.ackStage) return false;
    await this.mutate(() => {
      const r = this.state.records[ack.ackForMessageId]!;
      r.ackStage = ack.ackStage;
      r.errorCode = ack.errorCode;
      r.ackNote = ack.note ?? '';
    });
    return true;
  }

  /** Closes the storage (releases the lock of file storage). */
  close(): Promise<void> {
    return this.storage.close();
  }

  private async record(direction: 'in' | 'out', envelope: Envelope): Promise<ActivityRecord> {
    const rec: ActivityRecord = {
      messageId: envelope.messageId,
      direction,
      envelope: envelopeToJson(envelope),
      idempotencyToken: envelope.idempotencyToken,
      ackStage: AckStage.ACK_STAGE_UNSPECIFIED,
      errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED,
      ackNote: '',
      tsMs: this.clock.now(),
    };
    await this.mutate(() => {
      const s = this.state;
      if (!(rec.messageId in s.records)) {
        if (s.order.length >= this.maxItems) this.prune();
        if (s.order.length >= this.maxItems) throw new BufferFullError(`activity buffer full (${this.maxItems} records)`);
        s.order.push(rec.messageId);
      }
      s.records[rec.messageId] = rec;
      if (rec.idempotencyToken) s.tokens[rec.idempotencyToken] = { messageId: rec.messageId, atMs: rec.tsMs };
    });
    return rec;
  }

  /** Drops terminal records older than the window, and expired token entries. */
  private prune(): void {
    const cutoff = this.clock.now() - this.windowMs;
    const s = this.state;
    s.order = s.order.filter((id) => {
      const r = s.records[id]!;
      const done = isTerminalStage(r.ackStage) || r.ackStage === AckStage.FULFILLED;
      if (done && r.tsMs <= cutoff) {
        delete s.records[id];
        return false;
      }
      return true;
    });
    for (const [token, t] of Object.entries(s.tokens)) if (t.atMs <= cutoff) delete s.tokens[token];
  }

  private async mutate(change: () => void): Promise<void> {
    const before = structuredClone(this.state);
    try {
      change();
      await this.storage.save(this.state);
    } catch (err) {
      this.state = before;
      throw err;
    }
  }
}
