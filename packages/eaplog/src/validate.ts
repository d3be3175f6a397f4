// SPDX-License-Identifier: Apache-2.0
// Reading a log file whole, and `validate` / `verify` (spec §6.6, §6.8).
import { EAP } from '@ecps/proto';
import { assertValidEap, isEcpsError } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { decodeMessages, recordPayload, verifyChain } from './decode';
import type { LogMessage } from './decode';
import { readBytes } from './file-io';
import { parseEaplog } from './reader';
import type { ParseOptions, ParsedEaplog } from './reader';

export interface ReadEaplogOptions extends ParseOptions {
  keyProvider?: KeyProvider;
}

/** A parsed log and its messages. */
export interface EaplogContents extends ParsedEaplog {
  messages: LogMessage[];
}

/**
 * Reads a log file: structure and every message. Throws `NOT_FOUND`/`IO_ERROR` for the file, `UNSUPPORTED_VERSION`,
 * `KEY_NOT_FOUND` (encrypted, no key), `DECRYPTION_FAILED`, `DECODE_ERROR`. A torn tail is reported in `tornTail`.
 */
export async function readEaplog(path: string, options: ReadEaplogOptions = {}): Promise<EaplogContents> {
  const parsed = parseEaplog(await readBytes(path), options);
  return { ...parsed, messages: await decodeMessages(parsed, options) };
}

export interface ValidateOptions {
  /** Warnings make the log invalid. */
  strict?: boolean;
  /** Pinned Ed25519 public key (hex) the log must be signed with. */
  publicKey?: string;
  /** `verify`: checks GCM tags with this provider. */
  keyProvider?: KeyProvider;
  /** `verify` mode: strict, a final checkpoint required when signed, tags checked with a key, every EAP decoded. */
  verify?: boolean;
  maxRecordBytes?: number;
}

export interface ValidationIssue {
  reason: string;
  offset?: number;
  index?: number;
}

export interface ValidationReport {
  valid: boolean;
  /** 0 valid, 1 invalid (spec §6.6). */
  exitCode: 0 | 1;
  layout?: string;
  version?: string;
  messages: number;
  records: number;
  checkpoints: number;
  signed: boolean;
  sealed: boolean;
  errors: ValidationIssue[];
  warnings: string[];
}

/** Validates log bytes (never throws for bad content; see {@link validateEaplog}). */
export async function validateBytes(bytes: Uint8Array, options: ValidateOptions = {}): Promise<ValidationReport> {
  const report: ValidationReport = {
    valid: false,
    exitCode: 1,
    messages: 0,
    records: 0,
    checkpoints: 0,
    signed: false,
    sealed: false,
    errors: [],
    warnings: [],
  };
  let parsed: ParsedEaplog;
  try {
    parsed = parseEaplog(bytes, options.maxRecordBytes === undefined ? {} : { maxRecordBytes: options.maxRecordBytes });
  } catch (error) {
    report.errors.push({ reason: (error as Error).message });
    return report;
  }
  report.layout = parsed.layout;
  report.version = parsed.version;
  report.records = parsed.records.length;
  report.warnings.push(...parsed.warnings);
  for (const c of parsed.corruptions) report.errors.push({ ...c });
  const chain = verifyChain(parsed, options.publicKey);
  report.signed = chain.signed;
  report.sealed = chain.sealed;
  report.checkpoints = chain.checkpoints;
  report.errors.push(...chain.errors);
  report.warnings.push(...chain.warnings);
  if (parsed.layout === 'ecps-v2' && !chain.signed) {
    for (const r of parsed.records) {
      if (r.kind === 'checkpoint') report.errors.push({ index: r.index, offset: r.offset, reason: `checkpoint ${r.index} in an unsigned log` });
    }
  }
  const dataRecords = parsed.records.filter((r) => r.kind === 'data' && r.crcOk);
  report.messages = dataRecords.length;
  if (options.verify) {
    if (chain.signed && !chain.sealed) report.errors.push({ reason: 'signed log has no final checkpoint' });
    const encrypted = parsed.fields?.encryption === 'aes-256-gcm';
    if (!encrypted || options.keyProvider) {
      for (const record of dataRecords) {
        try {
          const payload = await recordPayload(parsed, record, options.keyProvider ? { keyProvider: options.keyProvider } : {});
          assertValidEap(EAP.decode(payload));
        } catch (error) {
          const reason = isEcpsError(error) ? `${error.code}: ${error.message}` : `not a decodable EAP message: ${(error as Error).message}`;
          report.errors.push({ index: record.index, offset: record.offset, reason: `record ${record.index}: ${reason}` });
        }
      }
    } else report.warnings.push('encrypted log checked without its key: GCM tags and messages not verified');
  }
  const strict = options.strict === true || options.verify === true;
  if (strict) for (const w of report.warnings) report.errors.push({ reason: `strict: ${w}` });
  report.valid = report.errors.length === 0;
  report.exitCode = report.valid ? 0 : 1;
  return report;
}

/** Validates a log file. Throws only for I/O (`NOT_FOUND`, `IO_ERROR`); content problems are in the report. */
export async function validateEaplog(path: string, options: ValidateOptions = {}): Promise<ValidationReport> {
  return validateBytes(await readBytes(path), options);
}
