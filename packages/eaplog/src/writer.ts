// SPDX-License-Identifier: Apache-2.0
// The durable file writer: append-only, a bounded append queue with backpressure, group commit (one write + at most
// one fsync per batch), fsync policy, recovery when reopening (a torn tail is cut, damage is refused or moved aside),
// and a final checkpoint at close for signed logs.
import { write, writev } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EcpsError, ValidationError, isEcpsError, silentLogger } from '@ecps/core';
import { syncDirectory } from '@ecps/core/internal';
import type { Logger } from '@ecps/core';
import { chainNext, chainStart, decodeCheckpointBody } from './chain';
import { NativeEncoder, encodeReferenceRecord } from './encoder';
import type { SigningOptions } from './encoder';
import { zstdImplementation } from './compression';
import { moveTailAside } from './file-io';
import { DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_MAX_RECORD_BYTES } from './format';
import type { HeaderFields } from './format';
import { planLog } from './log-plan';
import type { LogFormatOptions, WriterPlan } from './log-plan';
import { ReferenceFramer } from './record-framer';
import type { RecordFramer } from './record-framer';
import { StagingBuffers } from './staging';
import { EaplogReader } from './reader';
import type { LogHead, LogRecord } from './reader';

/** When appended records reach the disk: after each batch (`always`), within N ms (`interval`), or when the OS decides. */
export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

export interface EaplogWriterOptions extends LogFormatOptions {
  /** Default `{ intervalMs: 5 }`. */
  fsync?: FsyncPolicy;
  /**
   * Bytes of appended messages waiting to be written (default 16 MiB). Past it, `append` waits its turn: the queue
   * never grows beyond this (a single larger message is admitted alone into an empty queue).
   */
  maxQueuedBytes?: number;
  /**
   * What {@link EaplogWriter.open} does with a file that is damaged before its end (or is not an action log):
   * `refuse` (default) throws `LOG_CORRUPT`; `move-aside` moves everything from the first damaged byte into
   * `<path>.damaged-<offset>`, reports it in `recovered` and appends after the last intact record.
   */
  recover?: 'refuse' | 'move-aside';
  logger?: Logger;
}

/** What {@link EaplogWriter.open} removed from the end of the file, and where it went. */
export interface Recovered {
  offset: number;
  bytes: number;
  reason: string;
  /** Where the removed bytes were kept; absent when they were a provably partial record (native torn tail). */
  sideFile?: string;
}

interface Pending {
  /** Settles (never rejects) once this record's encoding has finished; absent when framed synchronously. */
  encoded?: Promise<void>;
  bytes?: Uint8Array;
  encodeError?: { cause: unknown };
  charge: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Waiting {
  message: Uint8Array;
  charge: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Framing bytes a record adds to its message (length, type, CRC), counted against the queue limit. */
const RECORD_OVERHEAD = 9;
const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/** Staging buffer size of plain logs: a turn's records share it, and one is kept between writes. */
const STAGING_CHUNK_BYTES = 64 * 1024;

/** State of an existing log at the point where appending resumes. */
interface ResumePoint {
  /** Records before the point. */
  index: number;
  dataCount: number;
  chain?: Uint8Array;
  last?: LogRecord;
  firstOffset?: number;
}

/**
 * An open .eaplog file. Create one with {@link EaplogWriter.create} (new file) or {@link EaplogWriter.open}
 * (append to an existing one; creates it when missing).
 *
 * `append` resolves once the record is written (and fsynced under policy `always`). Appends are ordered. A record
 * that cannot be encoded rejects alone; an I/O failure rejects its batch, rolls the file back to the last good size
 * and fails the writer (`IO_ERROR`), so nothing already accepted is damaged.
 */
export class EaplogWriter {
  /** What `open` removed from the end of the file (a torn tail, or damage moved aside), if anything. */
  recovered?: Recovered;
  private pending: Pending[] = [];
  private waiting: Waiting[] = [];
  private queued = 0;
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  private encodeChain: Promise<void> = Promise.resolve();
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private dirty = false;
  private failed: unknown;
  private closed = false;
  private messages: number;
  private readonly maxQueued: number;
  private readonly encode: (message: Uint8Array) => Promise<Uint8Array>;
  private readonly finish: (() => Promise<Uint8Array>) | undefined;
  /** Plain logs: records are framed synchronously into {@link staging} when appended. */
  private readonly framer: RecordFramer | undefined;
  private readonly staging: StagingBuffers | undefined;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private size: number,
    plan: Omit<WriterPlan, 'header'>,
    options: EaplogWriterOptions,
    messageCount: number,
  ) {
    this.encode = plan.encode;
    this.finish = plan.finish;
    this.framer = plan.framer;
    this.staging = plan.framer ? new StagingBuffers(STAGING_CHUNK_BYTES) : undefined;
    this.messages = messageCount;
    this.policy = options.fsync ?? { intervalMs: 5 };
    this.logger = options.logger ?? silentLogger;
    this.maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  }

  private readonly policy: FsyncPolicy;
  private readonly logger: Logger;

  /** Messages in the file (including those appended through this writer). */
  get messageCount(): number {
    return this.messages;
  }

  /** Current file size in bytes (written, not necessarily fsynced). */
  get byteSize(): number {
    return this.size;
  }

  /** Bytes of accepted messages not yet written (never more than `maxQueuedBytes`, save one oversized message). */
  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Creates a new log (fails with `ALREADY_EXISTS` if the file exists) and writes its header.
   * Throws `INVALID_ARGUMENT` / `UNSUPPORTED` for option combinations the chosen mode cannot write.
   */
  static async create(path: string, options: EaplogWriterOptions = {}): Promise<EaplogWriter> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code === 'EEXIST' ? 'ALREADY_EXISTS' : 'IO_ERROR';
      throw new EcpsError(code, `cannot create ${path}: ${(cause as Error).message}`, { cause });
    }
    try {
      return await EaplogWriter.startNew(path, handle, options);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Opens a log for appending, reading it once from start to end (streamed: memory does not grow with the file).
   * Creates it (like {@link create}) when missing, empty, or cut off inside its header. The file's own header decides
   * framing and options; `encryption`/`signing` must supply keys for them.
   *
   * A torn tail (a final partial record) is removed and reported in `recovered`: cut off in native framing, where its
   * CRC proves it partial; kept in `<path>.torn-<offset>` in reference framing, which has no CRC to prove it. Damage
   * anywhere else, or a file that is not an action log, is `LOG_CORRUPT` (with `details.offset`) and the file is not
   * touched, unless `recover: 'move-aside'`. Throws `LOG_SEALED` after a final checkpoint, `UNSUPPORTED` for
   * magic-first logs, `KEY_NOT_FOUND` without the keys an encrypted or signed log needs.
   */
  static async open(path: string, options: EaplogWriterOptions = {}): Promise<EaplogWriter> {
    const recover = options.recover ?? 'refuse';
    let reader: EaplogReader;
    try {
      reader = await EaplogReader.open(path, { maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES });
    } catch (error) {
      if (isEcpsError(error, 'NOT_FOUND')) return EaplogWriter.create(path, options);
      if (!isEcpsError(error, 'LOG_CORRUPT') || recover !== 'move-aside') throw refusal(path, error);
      return EaplogWriter.restartAfterMovingAside(path, options, { offset: 0, reason: error.message });
    }
    let head: LogHead;
    let point: ResumePoint;
    let cut: { offset: number; reason: string } | undefined;
    let findings;
    try {
      head = reader.head;
      ({ point, cut } = await scanForResume(reader));
      findings = reader.findings;
    } finally {
      await reader.close();
    }
    if (head.size === 0 || findings?.tornTail?.header) {
      return EaplogWriter.restart(path, options, findings?.tornTail);
    }
    if (cut) {
      if (recover !== 'move-aside') {
        throw new ValidationError('LOG_CORRUPT', `${path}: ${cut.reason} (offset ${cut.offset}); not appending (open with recover: 'move-aside' to keep the damage in a side file)`, {
          details: { offset: cut.offset, path },
        });
      }
      if (cut.offset === 0) return EaplogWriter.restartAfterMovingAside(path, options, cut);
    }
    const torn = cut ? undefined : findings?.tornTail;
    const end = cut?.offset ?? torn?.offset ?? head.size;
    const plan = await EaplogWriter.planResume(path, head, point, options);
    const handle = await openForAppend(path);
    try {
      let recovered: Recovered | undefined;
      if (end < head.size) {
        const tail = { offset: end, bytes: head.size - end, reason: cut?.reason ?? torn?.reason ?? '' };
        if (cut || head.layout !== 'ecps-v2') {
          const sideFile = `${path}.${cut ? 'damaged' : 'torn'}-${end}`;
          await moveTailAside(handle, path, end, sideFile);
          recovered = { ...tail, sideFile };
        } else {
          await handle.truncate(end);
          await handle.datasync();
          recovered = tail;
        }
        (options.logger ?? silentLogger).warn(`eaplog: removed ${tail.bytes} bytes from the end of the log`, { path, ...recovered });
      }
      const writer = new EaplogWriter(path, handle, end, plan, options, point.dataCount);
      if (recovered) writer.recovered = recovered;
      return writer;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** How to append after `point` in an existing log; checks keys and seal before anything is modified. */
  private static async planResume(
    path: string,
    head: LogHead,
    point: ResumePoint,
    options: EaplogWriterOptions,
  ): Promise<Omit<WriterPlan, 'header'>> {
    if (head.layout === 'magic-first') throw new ValidationError('UNSUPPORTED', 'magic-first logs are read-only; migrate them first');
    if (head.layout !== 'ecps-v2') {
      // appending to an existing reference log has never applied a size limit of its own
      return { encode: async (m) => encodeReferenceRecord(m), framer: new ReferenceFramer(Infinity) };
    }
    const fields = head.fields as HeaderFields;
    if (point.last?.kind === 'checkpoint' && decodeCheckpointBody(point.last.body)?.final) {
      throw new ValidationError('LOG_SEALED', `${path} ends with a final checkpoint; it cannot be appended to`);
    }
    if (fields.encryption !== 'none' && options.encryption?.keyId !== fields.keyId) {
      throw new EcpsError('KEY_NOT_FOUND', `${path} is encrypted with key ${fields.keyId}; pass encryption options for it`);
    }
    if (fields.compression === 'zstd' && (await zstdImplementation()) === undefined) {
      throw new ValidationError('UNSUPPORTED', 'zstd needs Node >= 22.15 or the optional @mongodb-js/zstd package');
    }
    let signing: (SigningOptions & { checkpointInterval: number }) | undefined;
    if (fields.signing) {
      if (!options.signing) throw new EcpsError('KEY_NOT_FOUND', `${path} is signed; pass signing options with its key`);
      signing = { ...options.signing, checkpointInterval: fields.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL };
    }
    const encoder = new NativeEncoder(
      head.headerJson as Uint8Array,
      {
        compression: fields.compression,
        ...(options.encryption ? { encryption: options.encryption } : {}),
        ...(signing ? { signing } : {}),
        maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      },
      { index: point.index, dataCount: point.dataCount, chain: point.chain ?? chainStart(head.headerJson as Uint8Array) },
    );
    const framer = encoder.plainFramer();
    return { encode: (m) => encoder.data(m), ...(signing ? { finish: () => encoder.checkpoint(true) } : {}), ...(framer ? { framer } : {}) };
  }

  /** Starts the file afresh: it held nothing complete (empty, or cut off inside its header). */
  private static async restart(path: string, options: EaplogWriterOptions, torn: Recovered | undefined): Promise<EaplogWriter> {
    const handle = await openForAppend(path);
    try {
      await handle.truncate(0);
      const writer = await EaplogWriter.startNew(path, handle, options);
      if (torn) writer.recovered = { offset: torn.offset, bytes: torn.bytes, reason: torn.reason };
      return writer;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** `move-aside` for a file damaged from (or before) its first record: all of it goes aside, a new log starts. */
  private static async restartAfterMovingAside(path: string, options: EaplogWriterOptions, cut: { offset: number; reason: string }): Promise<EaplogWriter> {
    const handle = await openForAppend(path);
    try {
      const sideFile = `${path}.damaged-0`;
      const bytes = await moveTailAside(handle, path, 0, sideFile);
      const writer = await EaplogWriter.startNew(path, handle, options);
      writer.recovered = { offset: 0, bytes, reason: cut.reason, sideFile };
      (options.logger ?? silentLogger).warn('eaplog: moved a damaged log aside and started a new one', { path, ...writer.recovered });
      return writer;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private static async startNew(path: string, handle: FileHandle, options: EaplogWriterOptions): Promise<EaplogWriter> {
    const plan = await planLog(options);
    const writer = new EaplogWriter(path, handle, 0, plan, options, 0);
    if (plan.header.length > 0) writer.size = await writeAll(handle, [plan.header], 0);
    if (writer.policy !== 'never') {
      await handle.sync();
      await syncDirectory(dirname(path));
    }
    return writer;
  }

  /**
   * Appends one message (its exact bytes). When `maxQueuedBytes` of earlier appends are still unwritten, the message
   * waits for room before it is queued (appends stay in call order). Throws `CLOSED` after close, `IO_ERROR` once the
   * writer has failed, `MESSAGE_TOO_LARGE` above the record limit.
   */
  append(message: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new EcpsError('CLOSED', `${this.path} is closed`));
    if (this.failed !== undefined) return Promise.reject(new EcpsError('IO_ERROR', `${this.path} failed earlier`, { cause: this.failed }));
    const charge = message.length + RECORD_OVERHEAD;
    if (this.waiting.length === 0 && this.hasRoom(charge)) return this.enqueue(message, charge);
    return new Promise<void>((resolve, reject) => this.waiting.push({ message, charge, resolve, reject }));
  }

  private hasRoom(charge: number): boolean {
    return this.queued === 0 || this.queued + charge <= this.maxQueued;
  }

  private enqueue(message: Uint8Array, charge: number): Promise<void> {
    if (this.framer) return this.stage(this.framer, message, charge);
    this.queued += charge;
    return new Promise<void>((resolve, reject) => {
      const item: Pending = { encoded: this.encodeChain, charge, resolve, reject };
      // encodes run one after another, so a batch's last record finishing means the whole batch is encoded
      item.encoded = this.encodeChain = this.encodeChain
        .then(() => this.encode(message))
        .then(
          (bytes) => void (item.bytes = bytes),
          (cause: unknown) => void (item.encodeError = { cause }),
        );
      this.queue(item);
    });
  }

  /** Plain logs: frames the record into the staging buffers now; one that cannot be framed rejects alone. */
  private stage(framer: RecordFramer, message: Uint8Array, charge: number): Promise<void> {
    let content: Uint8Array;
    try {
      content = framer.content(message);
    } catch (error) {
      return Promise.reject(error);
    }
    const staging = this.staging as StagingBuffers;
    const at = staging.reserve(content.length + framer.overhead);
    framer.write(content, staging.target, at);
    this.queued += charge;
    return new Promise<void>((resolve, reject) => this.queue({ charge, resolve, reject }));
  }

  private queue(item: Pending): void {
    this.pending.push(item);
    if (!this.draining) {
      this.draining = true;
      this.drained = this.drain();
    }
  }

  /** Moves waiting appends into the queue while there is room, in order. */
  private admit(): void {
    while (this.waiting.length > 0 && this.hasRoom((this.waiting[0] as Waiting).charge)) {
      const next = this.waiting.shift() as Waiting;
      if (this.failed !== undefined) next.reject(new EcpsError('IO_ERROR', `${this.path} failed earlier`, { cause: this.failed }));
      else this.enqueue(next.message, next.charge).then(next.resolve, next.reject);
    }
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      await Promise.resolve(); // appends made in the same tick join this batch
      const batch = this.pending.splice(0);
      const { buffers, accepted } = this.staging ? { buffers: this.staging.take(), accepted: batch } : await encodedRecords(batch);
      if (buffers.length > 0 && this.failed !== undefined) {
        for (const item of accepted) item.reject(new EcpsError('IO_ERROR', `${this.path} failed earlier`, { cause: this.failed }));
      } else if (buffers.length > 0) {
        try {
          this.size = await writeAll(this.handle, buffers, this.size);
          if (this.policy === 'always') await this.handle.datasync();
          else if (this.policy !== 'never') this.scheduleSync(this.policy.intervalMs);
          this.messages += accepted.length;
          for (const item of accepted) item.resolve();
        } catch (cause) {
          this.failed = cause;
          await this.handle.truncate(this.size).catch(() => undefined);
          const error = new EcpsError('IO_ERROR', `write to ${this.path} failed: ${(cause as Error).message}`, { cause });
          for (const item of accepted) item.reject(error);
        }
      }
      this.staging?.release();
      for (const item of batch) this.queued -= item.charge;
      this.admit();
    }
    this.draining = false;
  }

  private scheduleSync(intervalMs: number): void {
    this.dirty = true;
    if (this.syncTimer !== undefined) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      if (!this.dirty || this.closed) return;
      this.dirty = false;
      this.handle.datasync().catch((cause: unknown) => {
        this.failed ??= cause;
        this.logger.error('eaplog: fsync failed', { path: this.path, error: String(cause) });
      });
    }, intervalMs);
    this.syncTimer.unref?.();
  }

  /** Waits for every accepted append to be written, then fsyncs (unless policy `never`). */
  async flush(): Promise<void> {
    while (this.draining || this.waiting.length > 0) await this.drained;
    if (this.policy !== 'never' && this.failed === undefined) await this.handle.datasync();
  }

  /**
   * Writes every accepted append, then the final checkpoint of a signed log, fsyncs (unless policy `never`) and
   * closes. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining || this.waiting.length > 0) await this.drained;
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    try {
      if (this.finish && this.failed === undefined) this.size = await writeAll(this.handle, [await this.finish()], this.size);
      if (this.policy !== 'never' && this.failed === undefined) await this.handle.sync();
    } finally {
      this.staging?.dispose();
      await this.handle.close();
    }
  }
}

/**
 * Reads every record once, keeping only what appending needs: counts, the chain (signed logs) and the last record,
 * frozen at the first record that fails its CRC, since nothing from there on can be appended after.
 */
async function scanForResume(reader: EaplogReader): Promise<{ point: ResumePoint; cut?: { offset: number; reason: string } }> {
  const head = reader.head;
  const signed = head.layout === 'ecps-v2' && head.fields?.signing !== undefined && head.headerJson !== undefined;
  const point: ResumePoint = { index: 0, dataCount: 0, ...(signed ? { chain: chainStart(head.headerJson as Uint8Array) } : {}) };
  let frozen = false;
  for await (const record of reader.records()) {
    if (frozen || !record.crcOk) {
      frozen = true;
      continue;
    }
    point.firstOffset ??= record.offset;
    point.index++;
    if (record.kind === 'data') point.dataCount++;
    if (point.chain) point.chain = chainNext(point.chain, record.index, record.body);
    point.last = record;
  }
  const findings = await reader.finish();
  const damage = [findings.notAnActionLog, findings.corruptions[0]].filter((d) => d !== undefined);
  const cut = damage.sort((a, b) => a.offset - b.offset)[0];
  // damage before the first record (a damaged stacked header): appending resumes with no record kept
  if (cut && point.firstOffset !== undefined && cut.offset < point.firstOffset) {
    return { point: { index: 0, dataCount: 0, ...(signed ? { chain: chainStart(head.headerJson as Uint8Array) } : {}) }, cut };
  }
  return { point, ...(cut ? { cut } : {}) };
}

/** Re-throws a reader error as the refusal of `open`, keeping its code and offset. */
function refusal(path: string, error: unknown): unknown {
  if (!isEcpsError(error, 'LOG_CORRUPT')) return error;
  return new ValidationError('LOG_CORRUPT', `${path}: ${error.message}; not appending (open with recover: 'move-aside' to keep the damage in a side file)`, {
    details: error.details,
    cause: error,
  });
}

async function openForAppend(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (cause) {
    throw new EcpsError('IO_ERROR', `cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** The bytes of a batch of async-encoded records, once the last is encoded; records that failed to encode reject. */
async function encodedRecords(batch: Pending[]): Promise<{ buffers: Uint8Array[]; accepted: Pending[] }> {
  // encodes run one after another, so the last record finishing means the whole batch is encoded
  await (batch[batch.length - 1] as Pending).encoded;
  const buffers: Uint8Array[] = [];
  const accepted: Pending[] = [];
  for (const item of batch) {
    if (item.encodeError) item.reject(item.encodeError.cause);
    else {
      buffers.push(item.bytes as Uint8Array);
      accepted.push(item);
    }
  }
  return { buffers, accepted };
}

/**
 * Writes every buffer at `position` (handles short writes); returns the new end. Goes through the fs callbacks on the
 * descriptor, one promise per call however many writes it takes: FileHandle's promise methods, or an async loop around
 * them, add several promise hops per write, a measurable share of a small append's cost. Only one write runs at a time
 * (the writer serialises them, and closes the handle only after the last).
 */
function writeAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = handle.fd;
    let pos = position;
    let queue = buffers;
    let left = 0;
    for (const buf of buffers) left += buf.length;
    const done = (error: NodeJS.ErrnoException | null, written: number): void => {
      if (error) return reject(error);
      pos += written;
      left -= written;
      if (left === 0) return resolve(pos);
      queue = unwritten(queue, written);
      next();
    };
    const next = (): void => {
      const only = queue.length === 1 ? (queue[0] as Uint8Array) : undefined;
      if (only) write(fd, only, 0, only.length, pos, done);
      else writev(fd, queue, pos, done);
    };
    if (left === 0) resolve(pos);
    else next();
  });
}

/** What is left of `buffers` after the first `written` bytes. */
function unwritten(buffers: Uint8Array[], written: number): Uint8Array[] {
  let skip = written;
  const rest: Uint8Array[] = [];
  for (const buf of buffers) {
    if (skip >= buf.length) skip -= buf.length;
    else {
      rest.push(skip > 0 ? buf.subarray(skip) : buf);
      skip = 0;
    }
  }
  return rest;
}
