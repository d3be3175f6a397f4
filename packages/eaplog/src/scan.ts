// SPDX-License-Identifier: Apache-2.0
// The one .eaplog parser (spec §6.2–§6.4, §6.6), written as a generator that asks for the bytes it needs, so the same
// code reads a byte array synchronously and a file of any size asynchronously with bounded memory.
//
// Damage rules (the issue's, stricter than spec §6.6): a torn tail is only a final partial record, i.e. what an
// interrupted append leaves. Any other damage is corruption with its offset. A header that looks like a header but
// does not parse is LOG_CORRUPT, never a legacy v1.0 file.
import { EAP } from '@ecps/proto';
import { ValidationError } from '@ecps/core';
import { crc32 } from './crc32';
import { DEFAULT_MAX_RECORD_BYTES, HEADER_PREFIX, MAGIC, RECORD_CHECKPOINT, RECORD_DATA, headerFields, resolveVersion } from './format';
import type { EaplogLayout, EaplogVersion, HeaderFields } from './format';
import { pyParse } from './py-json';
import type { PyObject } from './py-json';

export interface ParseOptions {
  /** Largest record (and header) accepted (default 64 MiB); longer declared lengths are corruption. */
  maxRecordBytes?: number;
}

/** A header the reference migrator stored as if it were a record (spec §6.3). */
export interface StackedHeader {
  offset: number;
  /** JSON bytes. */
  size: number;
  header: PyObject;
}

/** One record. `body` is the stored body (native: type byte first) or, in reference framing, the payload. */
export interface LogRecord {
  index: number;
  /** Offset of the record's length prefix. */
  offset: number;
  kind: 'data' | 'checkpoint' | 'unknown';
  body: Uint8Array;
  crcOk: boolean;
}

/** A final partial record (or header): what an interrupted write leaves. */
export interface TornTail {
  offset: number;
  bytes: number;
  reason: string;
  /** The file ends inside its header: nothing in it was ever a complete log. */
  header?: true;
}

export interface Corruption {
  /** Record index, when the damage is in a record. */
  index?: number;
  offset: number;
  reason: string;
  /** Bytes the reader skipped over here before going on (a damaged stacked header); absent where it stopped. */
  skipped?: number;
}

/** The header part of a parsed log. */
export interface LogHead {
  size: number;
  layout: EaplogLayout;
  /** The version we read the file as. */
  version: EaplogVersion;
  /** The version string the header declares (`1.0` without a header). */
  declaredVersion: string;
  header?: PyObject;
  /** Header JSON bytes exactly as stored. */
  headerJson?: Uint8Array;
  fields?: HeaderFields;
  dataOffset: number;
}

/** What a whole pass over the records found. Lists are bounded; the counts are exact. */
export interface ScanFindings {
  stackedHeaders: StackedHeader[];
  tornTail?: TornTail;
  /** The first {@link MAX_LISTED} corruptions; `corruptionCount` counts them all. */
  corruptions: Corruption[];
  corruptionCount: number;
  /** Set when nothing identifies the file as an action log (empty, no header and no EAP record, header cut off). */
  notAnActionLog?: { offset: number; reason: string };
  warnings: string[];
  recordCount: number;
}

/** Bytes the driver must hand back (the view may be reused by the driver once the next step is requested). */
export interface ReadStep {
  kind: 'read';
  offset: number;
  length: number;
}
export type ScanStep = ReadStep | { kind: 'head'; head: LogHead } | { kind: 'stacked'; stacked: StackedHeader } | { kind: 'record'; record: LogRecord };

/** At most this many corruptions and stacked headers are kept in memory; more corruptions are only counted. */
export const MAX_LISTED = 100;
const MAX_STACKED_HEADERS = 64;
/** Zero runs are checked in slices of this size, so a huge zero-filled tail costs no memory. */
const SCAN_SLICE = 1024 * 1024;

const encoder = new TextEncoder();
const PREFIX_BYTES = encoder.encode(HEADER_PREFIX);
const MAGIC_BYTES = encoder.encode(MAGIC);
const FRAMING_MARK = encoder.encode('"framing":"ecps-v2"');
const utf8 = new TextDecoder('utf-8', { fatal: true });

const u32 = (bytes: Uint8Array, at: number): number =>
  ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;

/**
 * True when the bytes of `pattern` present at `at` differ from it in at most `maxDiff` places. A short cut of the
 * pattern (fewer than 8 of its bytes present, and not all of it) must match exactly: a few bytes prove little.
 */
function resembles(bytes: Uint8Array, at: number, pattern: Uint8Array, maxDiff: number): boolean {
  const n = Math.min(pattern.length, bytes.length - at);
  if (n <= 0) return false;
  const allowed = n === pattern.length || n >= 8 ? maxDiff : 0;
  let diff = 0;
  for (let i = 0; i < n; i++) if (bytes[at + i] !== pattern[i] && ++diff > allowed) return false;
  return true;
}

function contains(bytes: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength));
}

/** Where the top-level JSON object starting at 0 ends (exclusive), or -1 when the bytes end first. */
function jsonObjectEnd(bytes: Uint8Array): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
  }
  return -1;
}

/** Parses header JSON; throws why it is not a header. */
function parseHeaderJson(bytes: Uint8Array): PyObject {
  const value = pyParse(utf8.decode(bytes));
  if (!(value instanceof Map)) throw new Error('not a JSON object');
  if (value.get('magic') !== MAGIC) throw new Error('magic is not "EAPLOG"');
  if (typeof value.get('version') !== 'string') throw new Error('version is not a string');
  return value;
}

function tryParseHeader(bytes: Uint8Array): PyObject | undefined {
  try {
    return parseHeaderJson(bytes);
  } catch {
    return undefined;
  }
}

const corrupt = (reason: string, offset: number, cause?: unknown): ValidationError =>
  new ValidationError('LOG_CORRUPT', `${reason} (offset ${offset})`, { details: { offset }, ...(cause === undefined ? {} : { cause }) });

/** Every EAP variant ever written starts with field 1 as a non-empty string (spec or id), and decodes. */
export function looksLikeEap(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x0a) return false;
  try {
    EAP.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A CRC-valid native record of a known type at `at` that ends at or before `limit`. */
function nativeRecordAt(bytes: Uint8Array, at: number, limit: number, max: number): number | undefined {
  if (at + 9 > limit) return undefined;
  const length = u32(bytes, at);
  const type = bytes[at + 4];
  if (length < 1 || length > max || at + 8 + length > limit || (type !== RECORD_DATA && type !== RECORD_CHECKPOINT)) return undefined;
  return crc32(bytes.subarray(at + 4, at + 4 + length)) === u32(bytes, at + 4 + length) ? at + 8 + length : undefined;
}

/**
 * Whether the bytes after a native record whose length runs past the end of the file hold intact data, i.e. whether
 * the "torn" record is in fact a damaged one: (a) the whole rest is one CRC-valid record with a wrong length field, or
 * (b) CRC-valid records start somewhere inside it and run exactly to the end of the file. A real torn tail is a
 * prefix of one record and holds neither (short of a 2^-32 CRC coincidence). When the evidence would cost more than
 * a few passes over the tail (crafted input), the answer is "damaged": refusing is safe, deleting is not.
 */
function tailHoldsIntactData(tail: Uint8Array, max: number): boolean {
  const r = tail.length;
  if (r >= 9 && crc32(tail.subarray(4, r - 4)) === u32(tail, r - 4)) return true;
  // structure first (no CRC): does a chain of plausible records starting at p end exactly at r?
  const chains = new Uint8Array(r + 1);
  chains[r] = 1;
  for (let p = r - 9; p >= 1; p--) {
    const length = u32(tail, p);
    const type = tail[p + 4];
    const next = p + 8 + length;
    if (length >= 1 && length <= max && next <= r && (type === RECORD_DATA || type === RECORD_CHECKPOINT) && chains[next] === 1) chains[p] = 1;
  }
  let budget = 4 * r + SCAN_SLICE;
  for (let p = 1; p < r; p++) {
    if (chains[p] !== 1) continue;
    let at = p;
    while (at < r) {
      const length = u32(tail, at);
      budget -= length;
      if (budget < 0) return true;
      const next = nativeRecordAt(tail, at, r, max);
      if (next === undefined) break;
      at = next;
    }
    if (at === r) return true;
  }
  return false;
}

function* readBytes(offset: number, length: number): Generator<ScanStep, Uint8Array, Uint8Array | undefined> {
  return (yield { kind: 'read', offset, length }) as Uint8Array;
}

/** Whether every byte from `offset` to `size` is zero, read in bounded slices. */
function* allZeroFrom(offset: number, size: number): Generator<ScanStep, boolean, Uint8Array | undefined> {
  for (let at = offset; at < size; at += SCAN_SLICE) {
    const slice = yield* readBytes(at, Math.min(SCAN_SLICE, size - at));
    for (let i = 0; i < slice.length; i++) if (slice[i] !== 0) return false;
  }
  return true;
}

interface HeaderResult {
  head: LogHead;
  tornHeader?: TornTail;
  warnings: string[];
}

/** Layout detection and header (spec §6.2), with the damage rules above. */
function* scanHeader(size: number, max: number): Generator<ScanStep, HeaderResult, Uint8Array | undefined> {
  const warnings: string[] = [];
  const legacy = (): HeaderResult => ({ head: { size, layout: 'v1.0', version: '1.0', declaredVersion: '1.0', dataOffset: 0 }, warnings });
  if (size === 0) return legacy();
  const probe = yield* readBytes(0, Math.min(size, 10 + PREFIX_BYTES.length));
  // Something that looks like a header is a header attempt: if it does not parse, the file is corrupt, not v1.0
  // (an EAP record never starts with '{', spec §6.3). One or two changed bytes still look like a header.
  const magicFirst = resembles(probe, 0, MAGIC_BYTES, 1) && resembles(probe, 10, PREFIX_BYTES, 2);
  if (!magicFirst && !resembles(probe, 4, PREFIX_BYTES, 2)) return legacy();
  const jsonStart = magicFirst ? 10 : 4;
  const layout: EaplogLayout = magicFirst ? 'magic-first' : 'reference';
  const available = Math.min(size - jsonStart, max);
  const declared = u32(probe, jsonStart - 4);
  if (jsonStart + declared > size) {
    // Either the file ends inside its header (an interrupted create) or the length field is damaged.
    const partial = yield* readBytes(jsonStart, Math.max(0, available));
    const end = jsonObjectEnd(partial);
    if (end === -1 && available < max) {
      const tornLayout: EaplogLayout = contains(partial, FRAMING_MARK) ? 'ecps-v2' : layout;
      return {
        head: { size, layout: tornLayout, version: '1.0', declaredVersion: '1.0', dataOffset: 0 },
        tornHeader: { offset: 0, bytes: size, reason: `the file ends inside its header (${size} bytes)`, header: true },
        warnings,
      };
    }
    throw corrupt(`header length field says ${declared} bytes, but the header JSON is ${end === -1 ? 'longer than the limit' : `${end} bytes`}`, 0);
  }
  if (declared < PREFIX_BYTES.length || declared > max) throw corrupt(`header length ${declared} is impossible`, 0);
  const json = yield* readBytes(jsonStart, declared);
  let header: PyObject;
  try {
    header = parseHeaderJson(json);
  } catch (cause) {
    throw corrupt(`header does not parse: ${(cause as Error).message}`, 0, cause);
  }
  const afterJson = jsonStart + declared;
  const framing = header.get('framing');
  const crcBytes = afterJson + 4 <= size ? yield* readBytes(afterJson, 4) : undefined;
  const crcOk = crcBytes !== undefined && u32(crcBytes, 0) === crc32(json);
  const native = framing === 'ecps-v2';
  if (native && magicFirst) throw new ValidationError('UNSUPPORTED', 'the magic-first layout has no ecps-v2 framing');
  if (!native && framing !== undefined) {
    if (crcOk) throw new ValidationError('UNSUPPORTED', `unsupported framing ${JSON.stringify(framing)}`);
    throw corrupt(`header declares framing ${JSON.stringify(framing)} and no header CRC: damaged`, 0);
  }
  if (!native && crcBytes !== undefined && layout === 'reference') {
    // A native header whose "framing" key was damaged reads as reference JSON; its records give it away.
    const probeEnd = Math.min(size, afterJson + 4 + 8 + max);
    const after = yield* readBytes(afterJson + 4, Math.min(probeEnd - afterJson - 4, 9));
    const length = after.length >= 4 ? u32(after, 0) : 0;
    if (after.length === 9 && length >= 1 && afterJson + 12 + length <= probeEnd && (after[4] === RECORD_DATA || after[4] === RECORD_CHECKPOINT)) {
      const record = yield* readBytes(afterJson + 4, 8 + length);
      if (nativeRecordAt(record, 0, record.length, max) === record.length) {
        throw corrupt('header is damaged: the records are ecps-v2 framed but the header does not say so', 0);
      }
    }
  }
  if (native && crcBytes === undefined) {
    return {
      head: { size, layout: 'ecps-v2', version: '1.0', declaredVersion: '1.0', dataOffset: 0 },
      tornHeader: { offset: 0, bytes: size, reason: 'the file ends inside its header (header CRC missing)', header: true },
      warnings,
    };
  }
  if (native && !crcOk) throw corrupt('header CRC mismatch: the header was changed after it was written', 0);
  const declaredVersion = header.get('version') as string;
  const resolved = resolveVersion(declaredVersion);
  if (resolved.warning) warnings.push(resolved.warning);
  const fields = headerFields(header);
  if (!native && (fields.compression !== 'none' || fields.encryption !== 'none')) {
    throw new ValidationError('UNSUPPORTED', 'compression and encryption need ecps-v2 framing; reference framing has neither');
  }
  if (native) {
    if (resolved.version === '1.0' || resolved.version === '1.1') {
      throw new ValidationError('UNSUPPORTED_VERSION', `ecps-v2 framing needs version 2.x, not ${declaredVersion}`);
    }
    if (resolved.version === '2.0' && (fields.compression !== 'none' || fields.encryption !== 'none' || fields.signing)) {
      warnings.push('version 2.0 with compression, encryption or signing; native files declare 2.1');
    }
  }
  return {
    head: {
      size,
      layout: native ? 'ecps-v2' : layout,
      version: resolved.version,
      declaredVersion,
      header,
      headerJson: json,
      fields,
      dataOffset: native ? afterJson + 4 : afterJson,
    },
    warnings,
  };
}

/**
 * Scans a log of `size` bytes. Yields the head, then stacked headers and records in file order; returns the findings.
 * Throws `LOG_CORRUPT` (damaged header, with `details.offset`), `UNSUPPORTED_VERSION` and `UNSUPPORTED`; all other
 * damage is reported in the findings. Given the `whole` file (`size` bytes), native records are read from it
 * directly instead of through `read` steps.
 */
export function* scanLog(
  size: number,
  options: ParseOptions = {},
  whole?: Uint8Array,
): Generator<ScanStep, ScanFindings, Uint8Array | undefined> {
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const { head, tornHeader, warnings } = yield* scanHeader(size, max);
  yield { kind: 'head', head };
  const findings: ScanFindings = { stackedHeaders: [], corruptions: [], corruptionCount: 0, warnings, recordCount: 0 };
  const addCorruption = (c: Corruption): void => {
    if (findings.corruptions.length < MAX_LISTED) findings.corruptions.push(c);
    findings.corruptionCount++;
  };
  if (tornHeader) {
    findings.tornTail = tornHeader;
    findings.notAnActionLog = { offset: 0, reason: tornHeader.reason };
    return findings;
  }
  if (size === 0) {
    findings.notAnActionLog = { offset: 0, reason: 'empty file: no header and no record' };
    return findings;
  }
  const native = head.layout === 'ecps-v2';
  if (head.layout === 'v1.0') warnings.push('legacy v1.0 layout (no header)');
  const trailer = native ? 4 : 0;
  let offset = head.dataOffset;
  let leading = true;
  let unknownTypes = 0;
  let firstUnknown = 0;
  const torn = (bytes: number, reason: string): void => {
    findings.tornTail = { offset, bytes, reason };
  };
  while (offset < size) {
    const index = findings.recordCount;
    const remaining = size - offset;
    if (remaining < 4) {
      torn(remaining, 'fewer than 4 bytes for a record length');
      break;
    }
    const length = whole ? u32(whole, offset) : u32(yield* readBytes(offset, 4), 0);
    if (length === 0 && (yield* allZeroFrom(offset, size))) {
      torn(remaining, 'zero-filled tail');
      break;
    }
    if (length > max) {
      addCorruption({ index, offset, reason: `record ${index} declares ${length} bytes, which exceeds the ${max}-byte limit` });
      break;
    }
    if (4 + length + trailer > remaining) {
      // a final partial record, unless intact data follows (then its length is what is damaged)
      if (native && tailHoldsIntactData(yield* readBytes(offset, remaining), max)) {
        addCorruption({ index, offset, reason: `record ${index} declares ${length} bytes, past the end of the file, but intact records follow: its length is damaged` });
      } else torn(remaining, `record ${index} declares ${length} bytes, runs past the end of the file`);
      break;
    }
    const end = offset + 4 + length + trailer;
    if (!native) {
      const body = length === 0 ? new Uint8Array(0) : yield* readBytes(offset + 4, length);
      if (leading && resembles(body, 0, PREFIX_BYTES, 2) && length >= PREFIX_BYTES.length) {
        const stacked = tryParseHeader(body);
        if (stacked && findings.stackedHeaders.length < MAX_STACKED_HEADERS) {
          const entry = { offset, size: length, header: stacked };
          findings.stackedHeaders.push(entry);
          yield { kind: 'stacked', stacked: entry };
        } else addCorruption({ offset, reason: stacked ? `more than ${MAX_STACKED_HEADERS} stacked headers` : 'a stacked header at this offset is damaged', skipped: end - offset });
        offset = end;
        continue;
      }
      if (leading && head.layout === 'v1.0' && !looksLikeEap(body)) {
        findings.notAnActionLog = { offset, reason: `no header, and record 0 at offset ${offset} is not an EAP message` };
      }
      leading = false;
      findings.recordCount++;
      yield { kind: 'record', record: { index, offset, kind: 'data', body, crcOk: true } };
      offset = end;
      continue;
    }
    if (length === 0) {
      addCorruption({ index, offset, reason: `record ${index} has an empty body` });
      break;
    }
    // body and CRC trailer: straight from the whole file when we have it (one view per record, no read step)
    const framed = whole ?? (yield* readBytes(offset + 4, length + 4));
    const bodyAt = whole ? offset + 4 : 0;
    const body = framed.subarray(bodyAt, bodyAt + length);
    const crcOk = u32(framed, bodyAt + length) === crc32(body);
    if (!crcOk) {
      // A last record whose unwritten blocks read back as zeros (lost at power failure) is a torn tail.
      if (end === size && length >= 4 && framed.subarray(bodyAt + length - 4, bodyAt + length + 4).every((b) => b === 0)) {
        torn(remaining, `last record ${index} is zero-filled`);
        break;
      }
      addCorruption({ index, offset, reason: `record ${index} fails its CRC` });
    }
    const type = body[0];
    const kind = type === RECORD_DATA ? 'data' : type === RECORD_CHECKPOINT ? 'checkpoint' : 'unknown';
    if (kind === 'unknown' && crcOk && unknownTypes++ === 0) firstUnknown = offset;
    findings.recordCount++;
    yield { kind: 'record', record: { index, offset, kind, body, crcOk } };
    offset = end;
  }
  if (head.layout === 'v1.0' && findings.recordCount === 0 && findings.stackedHeaders.length === 0 && !findings.notAnActionLog) {
    findings.notAnActionLog = { offset: 0, reason: 'no header and no complete record' };
  }
  if (unknownTypes > 0) warnings.push(`${unknownTypes} record(s) of unknown type skipped (first at offset ${firstUnknown})`);
  if (findings.stackedHeaders.length > 0) warnings.push(`${findings.stackedHeaders.length} stacked header(s) from the reference migrator`);
  if (findings.tornTail) warnings.push(`torn tail at offset ${findings.tornTail.offset}: ${findings.tornTail.reason}`);
  return findings;
}
