// SPDX-License-Identifier: Apache-2.0
// Our migrator (spec §6.7): reads with our reader (no header stacking), writes any version and framing, records the
// migration in the header metadata. Batch migration of a directory and conversion to the latest version.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EcpsError, ValidationError, concatBytes, isEcpsError, systemClock } from '@ecps/core';
import type { Clock, KeyProvider } from '@ecps/core';
import { MessageDecoder } from './decode';
import type { EncryptionOptions, SigningOptions } from './encoder';
import { AtomicFile } from './file-io';
import { LATEST_VERSION } from './format';
import type { Compression, EaplogVersion, Framing } from './format';
import { planNewLog } from './log-plan';
import { PyFloat, pyObject } from './py-json';
import type { PyJson, PyObject } from './py-json';
import { EaplogReader } from './reader';
import { unreadPart } from './validate';

export interface MigrateOptions {
  /** Default 2.1. */
  targetVersion?: EaplogVersion;
  robotId?: string;
  sessionId?: string;
  /** Caller's metadata, first in the new header's metadata (in order). */
  metadata?: PyObject;
  /** Default: the source's framing when it is native, else reference. */
  framing?: Framing;
  /** Native targets only; default: the source's compression when native, else none. */
  compression?: Compression;
  encryption?: EncryptionOptions;
  signing?: SigningOptions;
  /** Decrypts an encrypted source. */
  keyProvider?: KeyProvider;
  /** Clock for `migrated_at` and `created_at`. */
  clock?: Clock;
  /** Name recorded as `original_file`; default: the source path exactly as given. */
  originalFile?: string;
}

export interface MigrationReport {
  source: string;
  target: string;
  sourceVersion: string;
  targetVersion: EaplogVersion;
  framing: Framing;
  messageCount: number;
  stackedHeaders: number;
  bytes: number;
}

type Opener = () => Promise<EaplogReader>;

/** Where migrated bytes go: memory, or a file that appears only when complete. */
interface Sink {
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * The migration itself, in two streamed passes over the source: the first proves every byte readable and counts the
 * messages (the new header records the count), the second copies them. Memory is bounded by the largest record.
 */
async function migrateStream(open: Opener, originalFile: string, options: MigrateOptions, sink: Sink): Promise<Omit<MigrationReport, 'source' | 'target'>> {
  const first = await open();
  let messageCount = 0;
  let findings;
  try {
    for await (const record of first.records()) if (record.kind === 'data' && record.crcOk) messageCount++;
    findings = await first.finish();
  } finally {
    await first.close();
  }
  const unread = unreadPart(findings);
  if (unread) {
    throw new ValidationError('LOG_CORRUPT', `source cannot be read fully: ${unread.reason} (offset ${unread.offset}); nothing was written`, {
      details: { offset: unread.offset },
    });
  }
  const reader = await open();
  try {
    const head = reader.head;
    const targetVersion = options.targetVersion ?? LATEST_VERSION;
    const sourceNative = head.layout === 'ecps-v2';
    const framing: Framing = options.framing ?? (sourceNative ? 'ecps-v2' : 'reference');
    const stacked = findings.stackedHeaders;
    const headers = [head.header, ...stacked.map((s) => s.header)];
    const firstString = (key: string): string | null => {
      for (const h of headers) {
        const value = h?.get(key);
        if (typeof value === 'string') return value;
      }
      return null;
    };
    const now = (options.clock ?? systemClock).now() / 1000;
    const metadata: PyObject = pyObject(options.metadata ?? []);
    metadata.set('migrated_from_version', head.declaredVersion);
    metadata.set('migrated_at', new PyFloat(now));
    metadata.set('original_file', originalFile);
    metadata.set('message_count', BigInt(messageCount));
    const originalMetadata = head.header?.get('metadata');
    if (originalMetadata instanceof Map && originalMetadata.size > 0) metadata.set('original_metadata', originalMetadata);
    if (stacked.length > 0) metadata.set('unwrapped_headers', stacked.map((s) => s.header as PyJson));
    const compression = options.compression ?? (sourceNative ? (head.fields?.compression ?? 'none') : 'none');
    const plan = await planNewLog({
      mode: framing === 'ecps-v2' ? 'native' : 'compat',
      version: targetVersion,
      robotId: options.robotId ?? firstString('robot_id'),
      sessionId: options.sessionId ?? firstString('session_id'),
      metadata,
      createdAt: now,
      compression: framing === 'ecps-v2' ? compression : 'none',
      ...(options.encryption ? { encryption: options.encryption } : {}),
      ...(options.signing ? { signing: options.signing } : {}),
    });
    let bytes = plan.header.length;
    await sink.write(plan.header);
    const decoder = new MessageDecoder(head, options.keyProvider ? { keyProvider: options.keyProvider } : {});
    let copied = 0;
    for await (const record of reader.records()) {
      const message = await decoder.decode(record);
      if (!message) continue;
      const encoded = await plan.encode(message.data);
      bytes += encoded.length;
      copied++;
      await sink.write(encoded);
    }
    if (copied !== messageCount) throw new EcpsError('IO_ERROR', `source changed during migration (${messageCount} messages, then ${copied})`);
    if (plan.finish) {
      const closing = await plan.finish();
      bytes += closing.length;
      await sink.write(closing);
    }
    return { sourceVersion: head.declaredVersion, targetVersion, framing, messageCount, stackedHeaders: stacked.length, bytes };
  } finally {
    await reader.close();
  }
}

/**
 * Migrates the bytes of a log to a new log in memory (see {@link migrateEaplog}).
 * Throws `LOG_CORRUPT` (with `details.offset`) when the source cannot be read fully: nothing is dropped silently.
 */
export async function migrateBytes(source: Uint8Array, originalFile: string, options: MigrateOptions = {}): Promise<{ bytes: Uint8Array; report: Omit<MigrationReport, 'source' | 'target'> }> {
  const parts: Uint8Array[] = [];
  const report = await migrateStream(() => EaplogReader.fromBytes(source), originalFile, options, { write: async (b) => void parts.push(b) });
  return { bytes: concatBytes(parts), report };
}

/**
 * Migrates one file (spec §6.7), streamed: memory does not grow with the file. The target appears atomically and
 * durably (fsync of the file, rename, fsync of the directory) and only when the whole source was read. Throws
 * `NOT_FOUND`/`IO_ERROR` for files, `LOG_CORRUPT` when the source is damaged, torn or not an action log
 * (`details.offset`), `UNSUPPORTED_VERSION`/`UNSUPPORTED` for targets that cannot be written.
 */
export async function migrateEaplog(source: string, target: string, options: MigrateOptions = {}): Promise<MigrationReport> {
  const file = await AtomicFile.create(target);
  try {
    const report = await migrateStream(() => EaplogReader.open(source), options.originalFile ?? source, options, file);
    await file.commit();
    return { source, target, ...report };
  } catch (error) {
    await file.abort();
    throw error;
  }
}

/** Migration to the latest version with default options. */
export function convertEaplog(source: string, target: string, options: Omit<MigrateOptions, 'targetVersion'> = {}): Promise<MigrationReport> {
  return migrateEaplog(source, target, { ...options, targetVersion: LATEST_VERSION });
}

export interface BatchResult {
  file: string;
  ok: boolean;
  report?: MigrationReport;
  error?: { code: string; message: string };
}

/** Glob with `*` and `?` against a file name. */
export function matchPattern(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}

/**
 * Migrates every file of `sourceDir` matching `pattern` (default `*.eaplog`) into `targetDir` under the same name.
 * One failing file does not stop the others; each result says what happened.
 */
export async function batchMigrate(
  sourceDir: string,
  targetDir: string,
  options: MigrateOptions & { pattern?: string; onFile?: (result: BatchResult) => void } = {},
): Promise<BatchResult[]> {
  const pattern = options.pattern ?? '*.eaplog';
  const entries = await readdir(sourceDir, { withFileTypes: true }).catch((cause: unknown) => {
    throw new EcpsError((cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR', `cannot read directory ${sourceDir}: ${(cause as Error).message}`, { cause });
  });
  await mkdir(targetDir, { recursive: true });
  const results: BatchResult[] = [];
  for (const entry of entries.filter((e) => e.isFile() && matchPattern(pattern, e.name)).sort((a, b) => a.name.localeCompare(b.name))) {
    let result: BatchResult;
    try {
      const report = await migrateEaplog(join(sourceDir, entry.name), join(targetDir, entry.name), options);
      result = { file: entry.name, ok: true, report };
    } catch (error) {
      result = { file: entry.name, ok: false, error: { code: isEcpsError(error) ? error.code : 'INTERNAL', message: (error as Error).message } };
    }
    options.onFile?.(result);
    results.push(result);
  }
  return results;
}
