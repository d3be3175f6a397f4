// SPDX-License-Identifier: Apache-2.0
// Our migrator (spec §6.7): reads with our reader (no header stacking), writes any version and framing, records the
// migration in the header metadata. Batch migration of a directory and conversion to the latest version.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EcpsError, ValidationError, isEcpsError, systemClock } from '@ecps/core';
import type { Clock, KeyProvider } from '@ecps/core';
import { decodeMessages } from './decode';
import type { EncryptionOptions, SigningOptions } from './encoder';
import { readBytes, writeFileAtomic } from './file-io';
import { LATEST_VERSION } from './format';
import type { Compression, EaplogVersion, Framing } from './format';
import { encodeEaplog } from './log-plan';
import { PyFloat, pyObject } from './py-json';
import type { PyJson, PyObject } from './py-json';
import { parseEaplog } from './reader';

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
  tornTail: boolean;
  bytes: number;
}

/**
 * Migrates bytes of a log to a new log in memory (see {@link migrateEaplog}).
 * Throws `LOG_CORRUPT` when the source has corrupt records (nothing is dropped silently).
 */
export async function migrateBytes(source: Uint8Array, originalFile: string, options: MigrateOptions = {}): Promise<{ bytes: Uint8Array; report: Omit<MigrationReport, 'source' | 'target'> }> {
  const parsed = parseEaplog(source);
  if (parsed.corruptions.length > 0) {
    const first = parsed.corruptions[0];
    throw new ValidationError('LOG_CORRUPT', `source is corrupt: ${first?.reason} at offset ${first?.offset}`, { details: { offset: first?.offset } });
  }
  const messages = await decodeMessages(parsed, options.keyProvider ? { keyProvider: options.keyProvider } : {});
  const targetVersion = options.targetVersion ?? LATEST_VERSION;
  const sourceNative = parsed.layout === 'ecps-v2';
  const framing: Framing = options.framing ?? (sourceNative ? 'ecps-v2' : 'reference');
  const headers = [parsed.header, ...parsed.stackedHeaders.map((s) => s.header)];
  const firstString = (key: string): string | null => {
    for (const h of headers) {
      const value = h?.get(key);
      if (typeof value === 'string') return value;
    }
    return null;
  };
  const now = (options.clock ?? systemClock).now() / 1000;
  const metadata: PyObject = pyObject(options.metadata ?? []);
  metadata.set('migrated_from_version', parsed.declaredVersion);
  metadata.set('migrated_at', new PyFloat(now));
  metadata.set('original_file', originalFile);
  metadata.set('message_count', BigInt(messages.length));
  const originalMetadata = parsed.header?.get('metadata');
  if (originalMetadata instanceof Map && originalMetadata.size > 0) metadata.set('original_metadata', originalMetadata);
  if (parsed.stackedHeaders.length > 0) metadata.set('unwrapped_headers', parsed.stackedHeaders.map((s) => s.header as PyJson));
  const compression = options.compression ?? (sourceNative ? (parsed.fields?.compression ?? 'none') : 'none');
  const bytes = await encodeEaplog(
    messages.map((m) => m.data),
    {
      mode: framing === 'ecps-v2' ? 'native' : 'compat',
      version: targetVersion,
      robotId: options.robotId ?? firstString('robot_id'),
      sessionId: options.sessionId ?? firstString('session_id'),
      metadata,
      createdAt: now,
      compression: framing === 'ecps-v2' ? compression : 'none',
      ...(options.encryption ? { encryption: options.encryption } : {}),
      ...(options.signing ? { signing: options.signing } : {}),
    },
  );
  return {
    bytes,
    report: {
      sourceVersion: parsed.declaredVersion,
      targetVersion,
      framing,
      messageCount: messages.length,
      stackedHeaders: parsed.stackedHeaders.length,
      tornTail: parsed.tornTail !== undefined,
      bytes: bytes.length,
    },
  };
}

/**
 * Migrates one file (spec §6.7). The target is replaced atomically. Throws `NOT_FOUND`/`IO_ERROR` for files,
 * `LOG_CORRUPT` for a corrupt source, `UNSUPPORTED_VERSION`/`UNSUPPORTED` for targets that cannot be written.
 */
export async function migrateEaplog(source: string, target: string, options: MigrateOptions = {}): Promise<MigrationReport> {
  const { bytes, report } = await migrateBytes(await readBytes(source), options.originalFile ?? source, options);
  await writeFileAtomic(target, bytes);
  return { source, target, ...report };
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
