// SPDX-License-Identifier: Apache-2.0
// Payloads of DATA records (decryption through a KeyProvider, decompression) and the signature chain check, one record
// at a time so both work on a streamed file as well as on bytes in memory.
import { EcpsError, fromHex } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { chainNext, chainStart, checkpointSigningInput, decodeCheckpointBody, verifyEd25519 } from './chain';
import { decompress, decompressSync } from './compression';
import { DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_MAX_RECORD_BYTES, u64le } from './format';
import type { HeaderFields } from './format';
import { LocalKeyFileProvider } from './local-key-provider';
import { MAX_LISTED } from './scan';
import type { LogHead, LogRecord } from './scan';
import type { ParsedEaplog } from './reader';

export interface DecodeOptions {
  /**
   * Needed for encrypted logs; the header's `key_id` names the key. When the header has a `data_key`, a provider
   * with `unwrapKey` (a KMS) unwraps it once and the records are decrypted locally.
   */
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
export async function recordPayload(head: LogHead, record: LogRecord, options: DecodeOptions = {}): Promise<Uint8Array> {
  if (head.layout !== 'ecps-v2') return record.body;
  const fields = head.fields;
  let content = record.body.subarray(1);
  if (fields?.encryption === 'aes-256-gcm') {
    const keyId = fields.keyId ?? '';
    if (!options.keyProvider) {
      throw new EcpsError('KEY_NOT_FOUND', `log is encrypted with key ${JSON.stringify(keyId)}; no key given`, { details: { keyId } });
    }
    if (content.length < 28) throw new EcpsError('DECRYPTION_FAILED', `record ${record.index} is too short to be AES-GCM`);
    const keys = await recordKeys(options.keyProvider, fields);
    content = await keys.decrypt(keyId, {
      nonce: content.subarray(0, 12),
      ciphertext: content.subarray(12),
      aad: u64le(record.index),
    });
  }
  return decompress(fields?.compression ?? 'none', content, options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES);
}

/** Data keys unwrapped per provider (at most {@link MAX_UNWRAPPED} each), so a log costs one KMS call, not one per record. */
const unwrapped = new WeakMap<KeyProvider, Map<string, Promise<KeyProvider>>>();
const MAX_UNWRAPPED = 64;

/** The provider that decrypts the records: `provider` itself, or the log's data key after unwrapping it with `provider`. */
function recordKeys(provider: KeyProvider, fields: HeaderFields): Promise<KeyProvider> {
  const dataKey = fields.dataKey;
  if (!dataKey || !provider.unwrapKey) return Promise.resolve(provider);
  let cache = unwrapped.get(provider);
  if (!cache) unwrapped.set(provider, (cache = new Map()));
  const id = `${dataKey.kek}\0${Buffer.from(dataKey.wrapped).toString('base64')}`;
  let keys = cache.get(id);
  if (!keys) {
    const entries = cache;
    if (entries.size >= MAX_UNWRAPPED) entries.delete(entries.keys().next().value as string);
    keys = provider.unwrapKey(dataKey.kek, dataKey.wrapped).then((key) => new LocalKeyFileProvider({ [fields.keyId ?? '']: { algorithm: 'aes-256-gcm', key } }));
    entries.set(id, keys);
    keys.catch(() => entries.delete(id));
  }
  return keys;
}

/** Turns DATA records into messages in order: records that fail their CRC and non-DATA records give none. */
export class MessageDecoder {
  private count = 0;
  private readonly native: boolean;
  private readonly slowPath: boolean;
  private readonly max: number;

  constructor(
    private readonly head: LogHead,
    private readonly options: DecodeOptions = {},
  ) {
    this.native = head.layout === 'ecps-v2';
    // only decryption (and zstd) need the async path; everything else stays synchronous
    this.slowPath = head.fields?.encryption === 'aes-256-gcm' || head.fields?.compression === 'zstd';
    this.max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Whether {@link decodeSync} can decode this log's records (no decryption or zstd). */
  get synchronous(): boolean {
    return !this.slowPath;
  }

  /** The message in `record`, or undefined when it holds none. Throws like {@link recordPayload}. */
  async decode(record: LogRecord): Promise<LogMessage | undefined> {
    if (!this.slowPath) return this.decodeSync(record);
    if (record.kind !== 'data' || !record.crcOk) return undefined;
    const data = this.native ? await recordPayload(this.head, record, this.options) : record.body;
    return { index: this.count++, recordIndex: record.index, offset: record.offset, data };
  }

  /** {@link decode} without a promise per record, for logs that are {@link synchronous}. */
  decodeSync(record: LogRecord): LogMessage | undefined {
    if (record.kind !== 'data' || !record.crcOk) return undefined;
    const data = this.native
      ? decompressSync((this.head.fields?.compression ?? 'none') as 'none' | 'deflate', record.body.subarray(1), this.max)
      : record.body;
    return { index: this.count++, recordIndex: record.index, offset: record.offset, data };
  }
}

/** Every message of a parsed log, in order (DATA records whose CRC verifies; stacked headers are never messages). */
export async function decodeMessages(parsed: ParsedEaplog, options: DecodeOptions = {}): Promise<LogMessage[]> {
  const decoder = new MessageDecoder(parsed, options);
  const out: LogMessage[] = [];
  for (const record of parsed.records) {
    const message = decoder.synchronous ? decoder.decodeSync(record) : await decoder.decode(record);
    if (message) out.push(message);
  }
  return out;
}

export interface ChainReport {
  signed: boolean;
  checkpoints: number;
  /** True when the last record is a final checkpoint. */
  sealed: boolean;
  /** The first {@link MAX_LISTED} errors; `errorCount` counts them all. */
  errors: { index?: number; offset?: number; reason: string }[];
  errorCount: number;
  warnings: string[];
}

/**
 * Checks checkpoint cadence, chain values and signatures of a signed native log, one record at a time, against its
 * `signing_key` and, when given, a pinned public key (hex). Works without the AES key (the chain covers stored bytes).
 */
export class ChainVerifier {
  private readonly report: ChainReport = { signed: false, checkpoints: 0, sealed: false, errors: [], errorCount: 0, warnings: [] };
  private readonly publicKey: Uint8Array | undefined;
  private readonly interval: number;
  private chain: Uint8Array | undefined;
  private dataCount = 0;
  private finalSeen = false;
  private checkpointDue = false;

  constructor(head: LogHead, pinnedPublicKeyHex?: string) {
    const fields = head.fields;
    this.interval = fields?.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL;
    if (head.layout !== 'ecps-v2' || !fields?.signing || !head.headerJson) {
      if (pinnedPublicKeyHex !== undefined) this.error({ reason: 'a public key was given but the log is not signed' });
      return;
    }
    this.report.signed = true;
    const headerKey = fields.signingKey ?? '';
    if (pinnedPublicKeyHex !== undefined && pinnedPublicKeyHex.toLowerCase() !== headerKey) {
      this.error({ reason: 'signing_key in the header differs from the pinned public key' });
    }
    this.publicKey = fromHex(headerKey);
    this.chain = chainStart(head.headerJson);
  }

  private error(e: { index?: number; offset?: number; reason: string }): void {
    if (this.report.errors.length < MAX_LISTED) this.report.errors.push(e);
    this.report.errorCount++;
  }

  push(record: LogRecord): void {
    if (!this.chain || !this.publicKey) return;
    const where = { index: record.index, offset: record.offset };
    if (this.finalSeen) this.error({ ...where, reason: `record ${record.index} follows the final checkpoint` });
    if (record.kind === 'checkpoint') {
      this.report.checkpoints++;
      const cp = decodeCheckpointBody(record.body);
      if (!cp) this.error({ ...where, reason: `checkpoint ${record.index} is malformed` });
      else {
        if (cp.dataCount !== this.dataCount) this.error({ ...where, reason: `checkpoint ${record.index} counts ${cp.dataCount} DATA records, expected ${this.dataCount}` });
        if (!equalBytes(cp.chain, this.chain)) this.error({ ...where, reason: `checkpoint ${record.index} chain value does not match the records` });
        if (!verifyEd25519(this.publicKey, checkpointSigningInput(record.index, cp.dataCount, cp.chain, cp.final), cp.signature)) {
          this.error({ ...where, reason: `checkpoint ${record.index} signature does not verify` });
        }
        if (cp.final) this.finalSeen = true;
        this.checkpointDue = false;
      }
    } else if (this.checkpointDue) {
      this.error({ ...where, reason: `missing periodic checkpoint before record ${record.index}` });
      this.checkpointDue = false;
    }
    if (record.kind === 'data') {
      this.dataCount++;
      if (this.dataCount % this.interval === 0) this.checkpointDue = true;
    }
    this.chain = chainNext(this.chain, record.index, record.body);
  }

  finish(): ChainReport {
    if (this.report.signed) {
      this.report.sealed = this.finalSeen;
      if (!this.finalSeen) this.report.warnings.push('signed log has no final checkpoint (unsealed tail)');
    }
    return this.report;
  }
}

/** {@link ChainVerifier} over a parsed log in memory. */
export function verifyChain(parsed: ParsedEaplog, pinnedPublicKeyHex?: string): ChainReport {
  const verifier = new ChainVerifier(parsed, pinnedPublicKeyHex);
  for (const record of parsed.records) verifier.push(record);
  return verifier.finish();
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
