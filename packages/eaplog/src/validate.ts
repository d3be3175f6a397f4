// SPDX-License-Identifier: Apache-2.0
// Reading a log whole, and `validate` / `verify` (spec §6.6, §6.8) streamed one record at a time.
import { EAP } from '@ecps/proto';
import { assertValidEap, isEcpsError } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { ChainVerifier, decodeMessages, recordPayload } from './decode';
import type { LogMessage } from './decode';
import { readBytes } from './file-io';
import { EaplogReader, MAX_LISTED, parseEaplog } from './reader';
import type { ParseOptions, ParsedEaplog, ReaderOptions, ScanFindings } from './reader';

export interface ReadEaplogOptions extends ParseOptions {
  keyProvider?: KeyProvider;
}

/** A parsed log and its messages. */
export interface EaplogContents extends ParsedEaplog {
  messages: LogMessage[];
}

/**
 * Reads a whole log file into memory: structure and every message (use {@link EaplogReader} to stream a large one).
 * Throws `NOT_FOUND`/`IO_ERROR` for the file, the header errors of {@link parseEaplog}, `KEY_NOT_FOUND`
 * (encrypted, no key), `DECRYPTION_FAILED`, `DECODE_ERROR`. Damage is reported in `tornTail` and `corruptions`.
 */
export async function readEaplog(path: string, options: ReadEaplogOptions = {}): Promise<EaplogContents> {
  const parsed = parseEaplog(await readBytes(path), options);
  return { ...parsed, messages: await decodeMessages(parsed, options) };
}

/**
 * The first part of a log that could not be read as complete records, if any: not an action log, a corrupt record
 * or a torn tail, whichever comes first in the file. A command that copies or exports a log refuses (or fails)
 * when there is one, so that it never drops input bytes and reports success.
 */
export function unreadPart(findings: ScanFindings): { offset: number; reason: string } | undefined {
  const candidates = [
    findings.notAnActionLog ? { offset: findings.notAnActionLog.offset, reason: `not an action log: ${findings.notAnActionLog.reason}` } : undefined,
    findings.corruptions[0],
    findings.tornTail ? { offset: findings.tornTail.offset, reason: `torn tail of ${findings.tornTail.bytes} bytes: ${findings.tornTail.reason}` } : undefined,
  ].filter((c): c is { offset: number; reason: string } => c !== undefined);
  return candidates.sort((a, b) => a.offset - b.offset)[0];
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
  /** The first 100 errors; `errorCount` counts them all. */
  errors: ValidationIssue[];
  errorCount: number;
  warnings: string[];
}

/**
 * Validates a log through a reader, one record at a time (memory bounded by the largest record). Never throws for
 * bad content: everything is in the report. Closes the reader.
 */
export async function validateReader(reader: EaplogReader, options: ValidateOptions = {}): Promise<ValidationReport> {
  const report = emptyReport();
  const error = (issue: ValidationIssue): void => {
    if (report.errors.length < MAX_LISTED) report.errors.push(issue);
    report.errorCount++;
  };
  try {
    const head = reader.head;
    report.layout = head.layout;
    report.version = head.version;
    const chain = new ChainVerifier(head, options.publicKey);
    const encrypted = head.fields?.encryption === 'aes-256-gcm';
    const decodeEaps = options.verify === true && (!encrypted || options.keyProvider !== undefined);
    for await (const record of reader.records()) {
      chain.push(record);
      if (record.kind === 'checkpoint' && head.layout === 'ecps-v2' && !head.fields?.signing) {
        error({ index: record.index, offset: record.offset, reason: `checkpoint ${record.index} in an unsigned log` });
      }
      if (record.kind !== 'data' || !record.crcOk) continue;
      report.messages++;
      if (!decodeEaps) continue;
      try {
        const payload = await recordPayload(head, record, options.keyProvider ? { keyProvider: options.keyProvider } : {});
        assertValidEap(EAP.decode(payload));
      } catch (cause) {
        const reason = isEcpsError(cause) ? `${cause.code}: ${cause.message}` : `not a decodable EAP message: ${(cause as Error).message}`;
        error({ index: record.index, offset: record.offset, reason: `record ${record.index}: ${reason}` });
      }
    }
    const findings = reader.findings as ScanFindings;
    report.records = findings.recordCount;
    if (findings.notAnActionLog) error({ offset: findings.notAnActionLog.offset, reason: `not an action log: ${findings.notAnActionLog.reason}` });
    for (const c of findings.corruptions) error({ ...c });
    report.errorCount += findings.corruptionCount - findings.corruptions.length;
    report.warnings.push(...findings.warnings);
    const signatures = chain.finish();
    report.signed = signatures.signed;
    report.sealed = signatures.sealed;
    report.checkpoints = signatures.checkpoints;
    for (const e of signatures.errors) error(e);
    report.errorCount += signatures.errorCount - signatures.errors.length;
    report.warnings.push(...signatures.warnings);
    if (options.verify) {
      if (signatures.signed && !signatures.sealed) error({ reason: 'signed log has no final checkpoint' });
      if (encrypted && !options.keyProvider) report.warnings.push('encrypted log checked without its key: GCM tags and messages not verified');
    }
  } finally {
    await reader.close();
  }
  return finishReport(report, options);
}

function emptyReport(): ValidationReport {
  return { valid: false, exitCode: 1, messages: 0, records: 0, checkpoints: 0, signed: false, sealed: false, errors: [], errorCount: 0, warnings: [] };
}

function finishReport(report: ValidationReport, options: ValidateOptions): ValidationReport {
  if (options.strict === true || options.verify === true) {
    for (const w of report.warnings) {
      report.errors.push({ reason: `strict: ${w}` });
      report.errorCount++;
    }
  }
  report.valid = report.errorCount === 0;
  report.exitCode = report.valid ? 0 : 1;
  return report;
}

/** A header that cannot be read is a report with one error, not an exception. */
async function validateOpened(open: () => Promise<EaplogReader>, options: ValidateOptions): Promise<ValidationReport> {
  let reader: EaplogReader;
  try {
    reader = await open();
  } catch (error) {
    if (isEcpsError(error) && (error.code === 'NOT_FOUND' || error.code === 'IO_ERROR')) throw error;
    const report = emptyReport();
    const offset = isEcpsError(error) && typeof error.details.offset === 'number' ? { offset: error.details.offset } : {};
    report.errors.push({ reason: (error as Error).message, ...offset });
    report.errorCount = 1;
    return finishReport(report, options);
  }
  return validateReader(reader, options);
}

/** Validates log bytes (never throws for bad content; see {@link validateEaplog}). */
export function validateBytes(bytes: Uint8Array, options: ValidateOptions = {}): Promise<ValidationReport> {
  const parse = options.maxRecordBytes === undefined ? {} : { maxRecordBytes: options.maxRecordBytes };
  return validateOpened(() => EaplogReader.fromBytes(bytes, parse), options);
}

/**
 * Validates a log file, streamed (memory bounded by the largest record, not the file). Throws only for I/O
 * (`NOT_FOUND`, `IO_ERROR`); content problems are in the report.
 */
export function validateEaplog(path: string, options: ValidateOptions & Pick<ReaderOptions, 'onProgress'> = {}): Promise<ValidationReport> {
  const readerOptions: ReaderOptions = {
    ...(options.maxRecordBytes === undefined ? {} : { maxRecordBytes: options.maxRecordBytes }),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  return validateOpened(() => EaplogReader.open(path, readerOptions), options);
}
