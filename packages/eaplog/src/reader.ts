// SPDX-License-Identifier: Apache-2.0
// Reading logs: `parseEaplog` over bytes in memory (synchronous), and `EaplogReader`, which streams a file of any size
// through the same parser (scan.ts) with memory bounded by the largest record, not by the file.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { EcpsError } from '@ecps/core';
import { scanLog } from './scan';
import type { LogHead, LogRecord, ParseOptions, ScanFindings, ScanStep, StackedHeader } from './scan';

export { MAX_LISTED } from './scan';
export type { Corruption, LogHead, LogRecord, ParseOptions, ScanFindings, StackedHeader, TornTail } from './scan';

/** Everything the structure of a log says, with every record (in memory). */
export interface ParsedEaplog extends LogHead, ScanFindings {
  records: LogRecord[];
}

/**
 * Parses the structure of a log held in memory. Throws `LOG_CORRUPT` for a damaged header (`details.offset`),
 * `UNSUPPORTED_VERSION` for an unknown major version and `UNSUPPORTED` for header options we cannot read; all other
 * damage (torn tail, corrupt records, not an action log) is reported in the result.
 */
export function parseEaplog(bytes: Uint8Array, options: ParseOptions = {}): ParsedEaplog {
  const scan = scanLog(bytes.length, options, bytes);
  let head: LogHead | undefined;
  const records: LogRecord[] = [];
  let input: Uint8Array | undefined;
  for (;;) {
    const step = scan.next(input);
    input = undefined;
    if (step.done) return { ...(head as LogHead), ...step.value, records };
    const value = step.value;
    if (value.kind === 'read') input = bytes.subarray(value.offset, value.offset + value.length);
    else if (value.kind === 'head') head = value.head;
    else if (value.kind === 'record') records.push(value.record);
  }
}

/** Random access to the bytes of a log. */
interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Default size of the read buffer. */
const CHUNK_BYTES = 1024 * 1024;

/** Reads up to `length` bytes at `position` into `buffer` at `offset`; returns how many were read. */
type ReadAt = (buffer: Uint8Array, offset: number, length: number, position: number) => Promise<number>;

/**
 * Bytes read forward in chunks. Each chunk is a fresh buffer, so views handed out stay valid for as long as the
 * caller keeps them, and the source itself holds one chunk (or one record, if larger) at a time.
 */
class ChunkedSource implements ByteSource {
  private chunk = new Uint8Array(0);
  private chunkOffset = 0;
  private bytesRead = 0;

  constructor(
    private readonly readAt: ReadAt,
    readonly size: number,
    private readonly name: string,
    private readonly chunkBytes: number,
    private readonly onProgress?: (done: number, total: number) => void,
    readonly close: () => Promise<void> = async () => undefined,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const start = offset - this.chunkOffset;
    if (start >= 0 && start + length <= this.chunk.length) return this.chunk.subarray(start, start + length);
    const want = Math.min(Math.max(length, this.chunkBytes), this.size - offset);
    const chunk = new Uint8Array(want);
    let done = 0;
    try {
      while (done < want) {
        const bytesRead = await this.readAt(chunk, done, want - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (cause) {
      throw new EcpsError('IO_ERROR', `cannot read ${this.name}: ${(cause as Error).message}`, { cause, details: { path: this.name } });
    }
    if (done < length) throw new EcpsError('IO_ERROR', `${this.name} shrank while being read (offset ${offset + done})`, { details: { path: this.name } });
    this.chunk = chunk.subarray(0, done);
    this.chunkOffset = offset;
    this.bytesRead = Math.max(this.bytesRead, offset + done);
    this.onProgress?.(this.bytesRead, this.size);
    return this.chunk.subarray(0, length);
  }
}

const memorySource = (bytes: Uint8Array): ByteSource => ({
  size: bytes.length,
  read: async (offset, length) => bytes.subarray(offset, offset + length),
  close: async () => undefined,
});

export interface ReaderOptions extends ParseOptions {
  /** Called as the file is read (bytes done, total), e.g. for a progress bar. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Bytes read at a time (default 1 MiB); a record larger than this is read whole. For bytes in memory the default
   * is no buffer at all (views of the array); set it to read them like a file.
   */
  readBufferBytes?: number;
}

/**
 * Streams a log: the header when opened, then one record at a time. Memory stays bounded by the largest record
 * (`maxRecordBytes`) and a 1 MiB read buffer, whatever the size of the file. Records can be iterated once.
 *
 * ```ts
 * const reader = await EaplogReader.open('robot.eaplog');
 * for await (const record of reader.records()) { ... }
 * reader.findings; // torn tail, corruptions, stacked headers
 * await reader.close();
 * ```
 */
export class EaplogReader {
  private result: ScanFindings | undefined;
  private started = false;
  private readonly stacked: StackedHeader[] = [];

  private constructor(
    readonly head: LogHead,
    private readonly scan: Generator<ScanStep, ScanFindings, Uint8Array | undefined>,
    private readonly source: ByteSource,
  ) {}

  /**
   * Opens a file and reads its header. Throws `NOT_FOUND`/`IO_ERROR`, and the header errors of {@link parseEaplog}
   * (`LOG_CORRUPT`, `UNSUPPORTED_VERSION`, `UNSUPPORTED`).
   */
  static async open(path: string, options: ReaderOptions = {}): Promise<EaplogReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR';
      throw new EcpsError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause, details: { path } });
    }
    try {
      const { size } = await handle.stat();
      const readAt: ReadAt = async (buffer, offset, length, position) => (await handle.read(buffer, offset, length, position)).bytesRead;
      const source = new ChunkedSource(readAt, size, path, options.readBufferBytes ?? CHUNK_BYTES, options.onProgress, () => handle.close());
      return await EaplogReader.start(source, options);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** A reader over bytes in memory (same API as a file). */
  static fromBytes(bytes: Uint8Array, options: ReaderOptions = {}): Promise<EaplogReader> {
    if (options.readBufferBytes === undefined) return EaplogReader.start(memorySource(bytes), options);
    const readAt: ReadAt = async (buffer, offset, length, position) => {
      const part = bytes.subarray(position, position + length);
      buffer.set(part, offset);
      return part.length;
    };
    return EaplogReader.start(new ChunkedSource(readAt, bytes.length, 'bytes', options.readBufferBytes, options.onProgress), options);
  }

  private static async start(source: ByteSource, options: ParseOptions): Promise<EaplogReader> {
    const scan = scanLog(source.size, options);
    let input: Uint8Array | undefined;
    for (;;) {
      const step = scan.next(input);
      input = undefined;
      if (step.done) throw new Error('eaplog: scan ended before the header'); // scanLog always yields the head first
      if (step.value.kind === 'read') input = await source.read(step.value.offset, step.value.length);
      else if (step.value.kind === 'head') return new EaplogReader(step.value.head, scan, source);
    }
  }

  /** Every record after the header, in file order (stacked headers are collected, not yielded). Once per reader. */
  async *records(): AsyncGenerator<LogRecord> {
    if (this.started) throw new EcpsError('INVALID_ARGUMENT', 'records() can be iterated once per reader');
    this.started = true;
    let input: Uint8Array | undefined;
    for (;;) {
      const step = this.scan.next(input);
      input = undefined;
      if (step.done) {
        this.result = step.value;
        return;
      }
      const value = step.value;
      if (value.kind === 'read') input = await this.source.read(value.offset, value.length);
      else if (value.kind === 'record') yield value.record;
      else if (value.kind === 'stacked') this.stacked.push(value.stacked);
    }
  }

  /** Consumes the remaining records (if any) and returns the findings. */
  async finish(): Promise<ScanFindings> {
    if (!this.started) {
      const iterator = this.records();
      while (!(await iterator.next()).done);
    }
    if (!this.result) throw new EcpsError('INVALID_ARGUMENT', 'finish() called while records() is still being iterated');
    return this.result;
  }

  /** What the pass found; available once {@link records} has been iterated to the end. */
  get findings(): ScanFindings | undefined {
    return this.result;
  }

  /** Stacked headers seen so far (all of them once iteration ended). */
  get stackedHeaders(): readonly StackedHeader[] {
    return this.stacked;
  }

  close(): Promise<void> {
    return this.source.close();
  }
}
