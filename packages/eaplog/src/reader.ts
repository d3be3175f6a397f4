// SPDX-License-Identifier: Apache-2.0
// Reads every .eaplog layout (spec §6.2, §6.3, §6.4, §6.6) from bytes. Structure only: payload decoding (decryption,
// decompression) is in decode.ts. Never throws on garbage: damage is reported, and only an unknown major version
// (UNSUPPORTED_VERSION) or unsupported header options (UNSUPPORTED) throw.
import { ValidationError } from '@ecps/core';
import { crc32 } from './crc32';
import {
  DEFAULT_MAX_RECORD_BYTES,
  HEADER_PREFIX,
  MAGIC,
  RECORD_CHECKPOINT,
  RECORD_DATA,
  headerFields,
  resolveVersion,
} from './format';
import type { EaplogLayout, EaplogVersion, HeaderFields } from './format';
import { pyParse } from './py-json';
import type { PyObject } from './py-json';

export interface ParseOptions {
  /** Largest record accepted (default 64 MiB); longer declared lengths are corruption. */
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

export interface TornTail {
  offset: number;
  bytes: number;
  reason: string;
}

export interface Corruption {
  /** Record index, when the damage is in a record. */
  index?: number;
  offset: number;
  reason: string;
}

/** Everything the structure of a log says. */
export interface ParsedEaplog {
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
  stackedHeaders: StackedHeader[];
  /** Every record after the header (and after stacked headers, which are never records). */
  records: LogRecord[];
  tornTail?: TornTail;
  corruptions: Corruption[];
  warnings: string[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const PREFIX_BYTES = new TextEncoder().encode(HEADER_PREFIX);
const MAGIC_BYTES = new TextEncoder().encode(MAGIC);

function startsWith(bytes: Uint8Array, offset: number, prefix: Uint8Array): boolean {
  if (bytes.length - offset < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[offset + i] !== prefix[i]) return false;
  return true;
}

/** Parses header JSON; undefined unless it is an object with magic EAPLOG and a string version. */
function parseHeaderJson(bytes: Uint8Array): PyObject | undefined {
  try {
    const value = pyParse(decoder.decode(bytes));
    if (value instanceof Map && value.get('magic') === MAGIC && typeof value.get('version') === 'string') return value;
  } catch {
    // not a header
  }
  return undefined;
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

interface Detected {
  layout: EaplogLayout;
  header?: PyObject;
  headerJson?: Uint8Array;
  /** Offset after the header JSON (before a native header CRC). */
  afterJson: number;
}

/** Layout detection in the order of spec §6.2. */
function detect(bytes: Uint8Array, view: DataView): Detected {
  const size = bytes.length;
  if (startsWith(bytes, 0, MAGIC_BYTES) && size >= 10) {
    const n = view.getUint32(6, true);
    if (n <= size - 10) {
      const json = bytes.subarray(10, 10 + n);
      const header = parseHeaderJson(json);
      if (header) return { layout: 'magic-first', header, headerJson: json, afterJson: 10 + n };
    }
  }
  if (size >= 4) {
    const n = view.getUint32(0, true);
    if (n >= 17 && n <= size - 4 && startsWith(bytes, 4, PREFIX_BYTES)) {
      const json = bytes.subarray(4, 4 + n);
      const header = parseHeaderJson(json);
      if (header) return { layout: header.get('framing') === 'ecps-v2' ? 'ecps-v2' : 'reference', header, headerJson: json, afterJson: 4 + n };
    }
  }
  return { layout: 'v1.0', afterJson: 0 };
}

/**
 * Parses the structure of a log. Throws `UNSUPPORTED_VERSION` for an unknown major version and `UNSUPPORTED` for header
 * options we cannot read (e.g. compression in reference framing); everything else is reported in the result.
 */
export function parseEaplog(bytes: Uint8Array, options: ParseOptions = {}): ParsedEaplog {
  const maxRecord = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.length;
  const found = detect(bytes, view);
  const warnings: string[] = [];
  const corruptions: Corruption[] = [];
  const result: ParsedEaplog = {
    size,
    layout: found.layout,
    version: '1.0',
    declaredVersion: '1.0',
    dataOffset: found.afterJson,
    stackedHeaders: [],
    records: [],
    corruptions,
    warnings,
  };
  const native = found.layout === 'ecps-v2';
  if (found.header && found.headerJson) {
    result.header = found.header;
    result.headerJson = found.headerJson;
    result.declaredVersion = found.header.get('version') as string;
    const resolved = resolveVersion(result.declaredVersion);
    result.version = resolved.version;
    if (resolved.warning) warnings.push(resolved.warning);
    const fields = headerFields(found.header);
    result.fields = fields;
    if (!native && (fields.compression !== 'none' || fields.encryption !== 'none')) {
      throw new ValidationError('UNSUPPORTED', 'compression and encryption need ecps-v2 framing; reference framing has neither');
    }
    if (native) {
      if (result.version === '1.0' || result.version === '1.1') {
        throw new ValidationError('UNSUPPORTED_VERSION', `ecps-v2 framing needs version 2.x, not ${result.declaredVersion}`);
      }
      if (result.version === '2.0' && (fields.compression !== 'none' || fields.encryption !== 'none' || fields.signing)) {
        warnings.push('version 2.0 with compression, encryption or signing; native files declare 2.1');
      }
      if (found.afterJson + 4 > size) {
        result.dataOffset = size;
        result.tornTail = { offset: found.afterJson, bytes: size - found.afterJson, reason: 'header CRC missing' };
        return result;
      }
      if (view.getUint32(found.afterJson, true) !== crc32(found.headerJson)) {
        corruptions.push({ offset: 0, reason: 'header CRC mismatch' });
      }
      result.dataOffset = found.afterJson + 4;
    }
  } else {
    warnings.push('legacy v1.0 layout (no header)');
  }

  let offset = result.dataOffset;
  const trailer = native ? 4 : 0;
  let leading = true;
  while (offset < size) {
    const index = result.records.length;
    const remaining = size - offset;
    if (remaining < 4) {
      result.tornTail = { offset, bytes: remaining, reason: 'fewer than 4 bytes for a record length' };
      break;
    }
    if (allZero(bytes, offset)) {
      result.tornTail = { offset, bytes: remaining, reason: 'zero-filled tail' };
      break;
    }
    const length = view.getUint32(offset, true);
    if (4 + length + trailer > remaining) {
      result.tornTail = { offset, bytes: remaining, reason: `record ${index} declares ${length} bytes, runs past end of file` };
      break;
    }
    if (length > maxRecord) {
      corruptions.push({ index, offset, reason: `record length ${length} exceeds the ${maxRecord}-byte limit` });
      break;
    }
    const body = bytes.subarray(offset + 4, offset + 4 + length);
    const end = offset + 4 + length + trailer;
    if (!native) {
      if (leading && startsWith(body, 0, PREFIX_BYTES)) {
        const stacked = parseHeaderJson(body);
        if (stacked) {
          result.stackedHeaders.push({ offset, size: length, header: stacked });
          offset = end;
          continue;
        }
      }
      leading = false;
      result.records.push({ index, offset, kind: 'data', body, crcOk: true });
      offset = end;
      continue;
    }
    const crcOk = view.getUint32(offset + 4 + length, true) === crc32(body);
    if (!crcOk && end === size) {
      result.tornTail = { offset, bytes: remaining, reason: `last record ${index} fails its CRC` };
      break;
    }
    if (length === 0) {
      corruptions.push({ index, offset, reason: 'empty record body' });
      result.records.push({ index, offset, kind: 'unknown', body, crcOk });
      offset = end;
      continue;
    }
    if (!crcOk) corruptions.push({ index, offset, reason: `record ${index} fails its CRC` });
    const type = body[0];
    const kind = type === RECORD_DATA ? 'data' : type === RECORD_CHECKPOINT ? 'checkpoint' : 'unknown';
    if (kind === 'unknown' && crcOk) warnings.push(`record ${index} at offset ${offset} has unknown type 0x${(type ?? 0).toString(16)}; skipped`);
    result.records.push({ index, offset, kind, body, crcOk });
    offset = end;
  }
  if (result.stackedHeaders.length > 0) warnings.push(`${result.stackedHeaders.length} stacked header(s) from the reference migrator`);
  if (result.tornTail) warnings.push(`torn tail at offset ${result.tornTail.offset}: ${result.tornTail.reason}`);
  return result;
}
