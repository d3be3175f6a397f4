// SPDX-License-Identifier: Apache-2.0
// The durable file writer: append-only, group commit (one write + at most one fsync per batch), fsync policy,
// torn-tail recovery when reopening, and a final checkpoint at close for signed logs.
import { open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EcpsError, ValidationError, silentLogger } from '@ecps/core';
import type { Logger } from '@ecps/core';
import { chainNext, chainStart, decodeCheckpointBody } from './chain';
import { NativeEncoder, encodeReferenceRecord } from './encoder';
import type { SigningOptions } from './encoder';
import { zstdImplementation } from './compression';
import { DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_MAX_RECORD_BYTES } from './format';
import type { HeaderFields } from './format';
import { planNewLog } from './log-plan';
import type { LogFormatOptions } from './log-plan';
import { parseEaplog } from './reader';
import type { ParsedEaplog, TornTail } from './reader';

/** When appended records reach the disk: after each batch (`always`), within N ms (`interval`), or when the OS decides. */
export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

export interface EaplogWriterOptions extends LogFormatOptions {
  /** Default `{ intervalMs: 5 }`. */
  fsync?: FsyncPolicy;
  logger?: Logger;
}

interface Pending {
  bytes: Promise<Uint8Array>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * An open .eaplog file. Create one with {@link EaplogWriter.create} (new file) or {@link EaplogWriter.open}
 * (append to an existing one, recovering a torn tail; creates it when missing).
 *
 * `append` resolves once the record is written (and fsynced under policy `always`). Appends are ordered. A record
 * that cannot be encoded rejects alone; an I/O failure rejects its batch, rolls the file back to the last good size
 * and fails the writer (`IO_ERROR`), so nothing already accepted is damaged.
 */
export class EaplogWriter {
  /** The torn tail removed when the file was opened, if any. */
  recovered?: TornTail;
  private pending: Pending[] = [];
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  private encodeChain: Promise<unknown> = Promise.resolve();
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private dirty = false;
  private failed: unknown;
  private closed = false;
  private messages: number;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private size: number,
    private readonly encode: (message: Uint8Array) => Promise<Uint8Array>,
    private readonly finish: (() => Promise<Uint8Array>) | undefined,
    private readonly policy: FsyncPolicy,
    private readonly logger: Logger,
    messageCount: number,
  ) {
    this.messages = messageCount;
  }

  /** Messages in the file (including those appended through this writer). */
  get messageCount(): number {
    return this.messages;
  }

  /** Current file size in bytes (written, not necessarily fsynced). */
  get byteSize(): number {
    return this.size;
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
   * Opens a log for appending; creates it (like {@link create}) when missing or empty. The file's own header decides
   * framing and options; `encryption`/`signing` must supply keys for them. A torn tail is truncated and reported
   * (`recovered`). Throws `LOG_SEALED` after a final checkpoint, `LOG_CORRUPT` for damage before the tail.
   */
  static async open(path: string, options: EaplogWriterOptions = {}): Promise<EaplogWriter> {
    let existing: Uint8Array;
    try {
      existing = new Uint8Array(await readFile(path));
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return EaplogWriter.create(path, options);
      throw new EcpsError('IO_ERROR', `cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    const parsed = parseEaplog(existing, { maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES });
    const handle = await open(path, 'r+').catch((cause: unknown) => {
      throw new EcpsError('IO_ERROR', `cannot open ${path}: ${(cause as Error).message}`, { cause });
    });
    try {
      // Nothing complete in the file (empty, or a header cut short): start it afresh.
      const nothingComplete =
        parsed.records.length === 0 &&
        parsed.stackedHeaders.length === 0 &&
        parsed.tornTail !== undefined &&
        (parsed.tornTail.offset === 0 || parsed.tornTail.offset < parsed.dataOffset || parsed.dataOffset === parsed.size);
      if (existing.length === 0 || nothingComplete) {
        await handle.truncate(0);
        const writer = await EaplogWriter.startNew(path, handle, options);
        if (parsed.tornTail) writer.recovered = parsed.tornTail;
        return writer;
      }
      if (parsed.corruptions.length > 0) {
        const first = parsed.corruptions[0];
        throw new ValidationError('LOG_CORRUPT', `${path} is corrupt (${first?.reason} at offset ${first?.offset}); not appending`, {
          details: { offset: first?.offset },
        });
      }
      let size = parsed.size;
      if (parsed.tornTail) {
        size = parsed.tornTail.offset;
        await handle.truncate(size);
        await handle.datasync();
        (options.logger ?? silentLogger).warn('eaplog: truncated torn tail', { path, ...parsed.tornTail });
      }
      const writer = await EaplogWriter.resume(path, handle, size, parsed, options);
      if (parsed.tornTail) writer.recovered = parsed.tornTail;
      return writer;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private static async startNew(path: string, handle: FileHandle, options: EaplogWriterOptions): Promise<EaplogWriter> {
    const plan = await planNewLog(options);
    const policy = options.fsync ?? { intervalMs: 5 };
    const writer = new EaplogWriter(path, handle, 0, plan.encode, plan.finish, policy, options.logger ?? silentLogger, 0);
    if (plan.header.length > 0) writer.size = await writeAll(handle, [plan.header], 0);
    if (policy !== 'never') {
      await handle.sync();
      await syncDir(path);
    }
    return writer;
  }

  private static async resume(path: string, handle: FileHandle, size: number, parsed: ParsedEaplog, options: EaplogWriterOptions): Promise<EaplogWriter> {
    const policy = options.fsync ?? { intervalMs: 5 };
    const logger = options.logger ?? silentLogger;
    const dataCount = parsed.records.filter((r) => r.kind === 'data').length;
    if (parsed.layout !== 'ecps-v2') {
      if (parsed.layout === 'magic-first') throw new ValidationError('UNSUPPORTED', 'magic-first logs are read-only; migrate them first');
      return new EaplogWriter(path, handle, size, async (m) => encodeReferenceRecord(m), undefined, policy, logger, dataCount);
    }
    const fields = parsed.fields as HeaderFields;
    const last = parsed.records.at(-1);
    if (last?.kind === 'checkpoint' && decodeCheckpointBody(last.body)?.final) {
      throw new ValidationError('LOG_SEALED', `${path} ends with a final checkpoint; it cannot be appended to`);
    }
    if (fields.encryption !== 'none' && options.encryption?.keyId !== fields.keyId) {
      throw new EcpsError('KEY_NOT_FOUND', `${path} is encrypted with key ${fields.keyId}; pass encryption options for it`);
    }
    if (fields.compression === 'zstd' && (await zstdImplementation()) === undefined) {
      throw new ValidationError('UNSUPPORTED', 'zstd needs Node >= 22.15 or the optional @mongodb-js/zstd package');
    }
    let signing: (SigningOptions & { checkpointInterval: number }) | undefined;
    let chain = chainStart(parsed.headerJson as Uint8Array);
    if (fields.signing) {
      if (!options.signing) throw new EcpsError('KEY_NOT_FOUND', `${path} is signed; pass signing options with its key`);
      signing = { ...options.signing, checkpointInterval: fields.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL };
      for (const record of parsed.records) chain = chainNext(chain, record.index, record.body);
    }
    const encoder = new NativeEncoder(
      parsed.headerJson as Uint8Array,
      {
        compression: fields.compression,
        ...(options.encryption ? { encryption: options.encryption } : {}),
        ...(signing ? { signing } : {}),
        maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      },
      { index: parsed.records.length, dataCount, chain },
    );
    return new EaplogWriter(path, handle, size, (m) => encoder.data(m), signing ? () => encoder.checkpoint(true) : undefined, policy, logger, dataCount);
  }

  /**
   * Appends one message (its exact bytes). Throws `CLOSED` after close, `IO_ERROR` once the writer has failed,
   * `MESSAGE_TOO_LARGE` above the record limit.
   */
  append(message: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new EcpsError('CLOSED', `${this.path} is closed`));
    if (this.failed !== undefined) return Promise.reject(new EcpsError('IO_ERROR', `${this.path} failed earlier`, { cause: this.failed }));
    const bytes = this.encodeChain.then(() => this.encode(message));
    this.encodeChain = bytes.catch(() => undefined);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ bytes, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.drained = this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      await Promise.resolve(); // appends made in the same tick join this batch
      const batch = this.pending.splice(0);
      const settled = await Promise.allSettled(batch.map((p) => p.bytes));
      const buffers: Uint8Array[] = [];
      const accepted: Pending[] = [];
      settled.forEach((s, i) => {
        const item = batch[i] as Pending;
        if (s.status === 'fulfilled') {
          buffers.push(s.value);
          accepted.push(item);
        } else item.reject(s.reason);
      });
      if (buffers.length === 0) continue;
      if (this.failed !== undefined) {
        for (const item of accepted) item.reject(new EcpsError('IO_ERROR', `${this.path} failed earlier`, { cause: this.failed }));
        continue;
      }
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
    while (this.draining) await this.drained;
    if (this.policy !== 'never' && this.failed === undefined) await this.handle.datasync();
  }

  /**
   * Writes the final checkpoint of a signed log, flushes, fsyncs (unless policy `never`) and closes. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining) await this.drained;
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    try {
      if (this.finish && this.failed === undefined) this.size = await writeAll(this.handle, [await this.finish()], this.size);
      if (this.policy !== 'never' && this.failed === undefined) await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }
}

/** Writes every buffer at `position` (handles short writes); returns the new end. */
async function writeAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<number> {
  let pos = position;
  let queue = buffers;
  while (queue.length > 0) {
    const only = queue.length === 1 ? (queue[0] as Uint8Array) : undefined;
    const { bytesWritten } = only ? await handle.write(only, 0, only.length, pos) : await handle.writev(queue, pos);
    pos += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const buf of queue) {
      if (skip >= buf.length) skip -= buf.length;
      else {
        rest.push(skip > 0 ? buf.subarray(skip) : buf);
        skip = 0;
      }
    }
    queue = rest;
  }
  return pos;
}

async function syncDir(path: string): Promise<void> {
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // some filesystems cannot fsync directories; the file itself is synced
  }
}
