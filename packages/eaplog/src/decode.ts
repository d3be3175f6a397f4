// SPDX-License-Identifier: Apache-2.0
// Payloads of DATA records (decryption through a KeyProvider, decompression) and the signature chain check.
import { EcpsError, ValidationError, fromHex } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { chainNext, chainStart, checkpointSigningInput, decodeCheckpointBody, verifyEd25519 } from './chain';
import { decompress, decompressSync } from './compression';
import { DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_MAX_RECORD_BYTES, u64le } from './format';
import type { LogRecord, ParsedEaplog } from './reader';

export interface DecodeOptions {
  /** Needed for encrypted logs; the header's `key_id` names the key. */
  keyProvider?: KeyProvider;
  maxRecordBytes?: number;
}

/** One message of a log: the exact payload bytes and where they were found. */
export interface LogMessage {
  /** 0-based among messages. */
  index: number;
  /** Index of the record that held it (native: counts checkpoints too). */
  recordIndex: number;
  offset: number;
  data: Uint8Array;
}

/**
 * The payload of one DATA record. Throws `KEY_NOT_FOUND` when the log is encrypted and no provider is given,
 * `DECRYPTION_FAILED` for a bad GCM tag, `DECODE_ERROR` for bad compressed data.
 */
export async function recordPayload(parsed: ParsedEaplog, record: LogRecord, options: DecodeOptions = {}): Promise<Uint8Array> {
  if (parsed.layout !== 'ecps-v2') return record.body;
  const fields = parsed.fields;
  let content = record.body.subarray(1);
  if (fields?.encryption === 'aes-256-gcm') {
    const keyId = fields.keyId ?? '';
    if (!options.keyProvider) {
      throw new EcpsError('KEY_NOT_FOUND', `log is encrypted with key ${JSON.stringify(keyId)}; no key given`, { details: { keyId } });
    }
    if (content.length < 28) throw new EcpsError('DECRYPTION_FAILED', `record ${record.index} is too short to be AES-GCM`);
    content = await options.keyProvider.decrypt(keyId, {
      nonce: content.subarray(0, 12),
      ciphertext: content.subarray(12),
      aad: u64le(record.index),
    });
  }
  return decompress(fields?.compression ?? 'none', content, options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES);
}

/** Every message in order (DATA records whose CRC verifies; stacked headers are never messages). */
export async function decodeMessages(parsed: ParsedEaplog, options: DecodeOptions = {}): Promise<LogMessage[]> {
  const out: LogMessage[] = [];
  const native = parsed.layout === 'ecps-v2';
  const encrypted = parsed.fields?.encryption === 'aes-256-gcm';
  const compression = parsed.fields?.compression ?? 'none';
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  for (const record of parsed.records) {
    if (record.kind !== 'data' || !record.crcOk) continue;
    // only decryption needs the (async) key provider; everything else stays synchronous
    let data: Uint8Array;
    if (!native) data = record.body;
    else if (encrypted || compression === 'zstd') data = await recordPayload(parsed, record, options);
    else data = decompressSync(compression, record.body.subarray(1), max);
    out.push({ index: out.length, recordIndex: record.index, offset: record.offset, data });
  }
  return out;
}

export interface ChainReport {
  signed: boolean;
  checkpoints: number;
  /** True when the last record is a final checkpoint. */
  sealed: boolean;
  errors: { index?: number; offset?: number; reason: string }[];
  warnings: string[];
}

/**
 * Checks checkpoint cadence, chain values and signatures of a signed native log against its `signing_key` and,
 * when given, a pinned public key (hex). Works without the AES key (the chain covers stored bytes).
 */
export function verifyChain(parsed: ParsedEaplog, pinnedPublicKeyHex?: string): ChainReport {
  const report: ChainReport = { signed: false, checkpoints: 0, sealed: false, errors: [], warnings: [] };
  const fields = parsed.fields;
  if (parsed.layout !== 'ecps-v2' || !fields?.signing || !parsed.headerJson) {
    if (pinnedPublicKeyHex !== undefined) report.errors.push({ reason: 'a public key was given but the log is not signed' });
    return report;
  }
  report.signed = true;
  const headerKey = fields.signingKey ?? '';
  if (pinnedPublicKeyHex !== undefined && pinnedPublicKeyHex.toLowerCase() !== headerKey) {
    report.errors.push({ reason: 'signing_key in the header differs from the pinned public key' });
  }
  const publicKey = fromHex(headerKey);
  const interval = fields.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL;
  let chain = chainStart(parsed.headerJson);
  let dataCount = 0;
  let finalSeen = false;
  let checkpointDue = false;
  for (const record of parsed.records) {
    const where = { index: record.index, offset: record.offset };
    if (finalSeen) report.errors.push({ ...where, reason: `record ${record.index} follows the final checkpoint` });
    if (record.kind === 'checkpoint') {
      report.checkpoints++;
      const cp = decodeCheckpointBody(record.body);
      if (!cp) report.errors.push({ ...where, reason: `checkpoint ${record.index} is malformed` });
      else {
        if (cp.dataCount !== dataCount) report.errors.push({ ...where, reason: `checkpoint ${record.index} counts ${cp.dataCount} DATA records, expected ${dataCount}` });
        if (!equalBytes(cp.chain, chain)) report.errors.push({ ...where, reason: `checkpoint ${record.index} chain value does not match the records` });
        if (!verifyEd25519(publicKey, checkpointSigningInput(record.index, cp.dataCount, cp.chain, cp.final), cp.signature)) {
          report.errors.push({ ...where, reason: `checkpoint ${record.index} signature does not verify` });
        }
        if (cp.final) finalSeen = true;
        checkpointDue = false;
      }
    } else if (checkpointDue) {
      report.errors.push({ ...where, reason: `missing periodic checkpoint before record ${record.index}` });
      checkpointDue = false;
    }
    if (record.kind === 'data') {
      dataCount++;
      if (dataCount % interval === 0) checkpointDue = true;
    }
    chain = chainNext(chain, record.index, record.body);
  }
  report.sealed = finalSeen;
  if (!finalSeen) report.warnings.push('signed log has no final checkpoint (unsealed tail)');
  return report;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws `INVALID_ARGUMENT` unless `hex` is a 32-byte public key in hex. */
export function assertPublicKeyHex(hex: string): void {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ValidationError('INVALID_ARGUMENT', 'public key must be 64 hex characters');
}
