// SPDX-License-Identifier: Apache-2.0
// What a new log looks like (header bytes, how each message becomes bytes, what closes it), shared by the file writer
// and the in-memory encoder so both produce identical bytes.
import { EcpsError, ValidationError, concatBytes, systemClock, toHex } from '@ecps/core';
import type { Clock } from '@ecps/core';
import { zstdImplementation } from './compression';
import { NativeEncoder, encodeNativeHeader, encodeReferenceHeader, encodeReferenceRecord, headerJsonBytes } from './encoder';
import type { EncryptionOptions, SigningOptions } from './encoder';
import { DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_MAX_RECORD_BYTES, EAPLOG_VERSIONS, LATEST_VERSION } from './format';
import type { Compression, EaplogVersion, HeaderFields } from './format';
import { plainToPy } from './py-json';
import { ReferenceFramer } from './record-framer';
import type { RecordFramer } from './record-framer';
import type { PyObject } from './py-json';

/** Options that decide the bytes of a new log. */
export interface LogFormatOptions {
  /** `native` (default): ecps-v2 framing; `compat`: the reference layout, byte-identical to the reference writer. */
  mode?: 'native' | 'compat';
  /** Header version. Native: 2.1 (2.0 accepted without compression, encryption or signing). Compat: any; 1.0 = no header. */
  version?: EaplogVersion;
  robotId?: string | null;
  sessionId?: string | null;
  /** Ordered metadata: a Map (from {@link pyObject}) keeps its order exactly; a plain object keeps JS key order. */
  metadata?: PyObject | Record<string, unknown>;
  /** Unix seconds for `created_at`; default from `clock`. */
  createdAt?: number;
  clock?: Clock;
  compression?: Compression;
  encryption?: EncryptionOptions;
  signing?: SigningOptions;
  maxRecordBytes?: number;
}

export interface LogPlan {
  header: Uint8Array;
  encode(message: Uint8Array): Promise<Uint8Array>;
  /** Closing bytes (the final checkpoint of a signed log). */
  finish?: () => Promise<Uint8Array>;
}

/** @internal A plan with the synchronous framer of a plain log (the file writer uses it instead of `encode`). */
export interface WriterPlan extends LogPlan {
  framer?: RecordFramer;
}

/**
 * Plans a new log. Throws `UNSUPPORTED_VERSION`, `UNSUPPORTED` (options the mode cannot write, zstd without support),
 * `INVALID_ARGUMENT`, `MECHANISM_UNSUPPORTED` (signing key not Ed25519).
 */
export async function planNewLog(options: LogFormatOptions): Promise<LogPlan> {
  const { framer: _framer, ...plan } = await planLog(options);
  return plan;
}

/** @internal {@link planNewLog} plus the synchronous framer of a plain log. */
export async function planLog(options: LogFormatOptions): Promise<WriterPlan> {
  const mode = options.mode ?? 'native';
  const version = options.version ?? LATEST_VERSION;
  if (!(EAPLOG_VERSIONS as readonly string[]).includes(version)) {
    throw new ValidationError('UNSUPPORTED_VERSION', `unknown log version ${JSON.stringify(version)}`);
  }
  const compression = options.compression ?? 'none';
  const metadata = options.metadata instanceof Map ? options.metadata : (plainToPy(options.metadata ?? {}) as PyObject);
  const fields: HeaderFields = {
    version,
    createdAt: options.createdAt ?? (options.clock ?? systemClock).now() / 1000,
    robotId: options.robotId ?? null,
    sessionId: options.sessionId ?? null,
    compression,
    encryption: options.encryption ? 'aes-256-gcm' : 'none',
    metadata,
  };
  if (mode === 'compat') {
    if (compression !== 'none' || options.encryption || options.signing) {
      throw new ValidationError('UNSUPPORTED', 'compat mode writes the reference layout: no compression, encryption or signing');
    }
    const maxRecord = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const framer = new ReferenceFramer(maxRecord);
    return {
      header: version === '1.0' ? new Uint8Array(0) : encodeReferenceHeader(headerJsonBytes(fields)),
      encode: async (m) => encodeReferenceRecord(framer.content(m)),
      framer,
    };
  }
  if (version !== '2.1' && !(version === '2.0' && compression === 'none' && !options.encryption && !options.signing)) {
    throw new ValidationError('UNSUPPORTED_VERSION', `native framing writes version 2.1 (2.0 only without options), not ${version}`);
  }
  if (compression === 'zstd' && (await zstdImplementation()) === undefined) {
    throw new ValidationError('UNSUPPORTED', 'zstd needs Node >= 22.15 or the optional @mongodb-js/zstd package; use deflate or none');
  }
  fields.framing = 'ecps-v2';
  if (options.encryption) fields.keyId = options.encryption.keyId;
  if (options.encryption?.dataKey) fields.dataKey = options.encryption.dataKey;
  let signing: (SigningOptions & { checkpointInterval: number }) | undefined;
  if (options.signing) {
    const info = await options.signing.provider.getKey(options.signing.keyId);
    if (info.algorithm !== 'ed25519' || info.publicKey?.length !== 32) {
      throw new EcpsError('MECHANISM_UNSUPPORTED', `signing key ${options.signing.keyId} is not an Ed25519 key with a public key`);
    }
    const interval = options.signing.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL;
    if (!Number.isInteger(interval) || interval < 1) throw new ValidationError('INVALID_ARGUMENT', 'checkpointInterval must be an integer >= 1');
    fields.signing = 'ed25519-chain';
    fields.signingKey = toHex(info.publicKey);
    fields.checkpointInterval = interval;
    signing = { ...options.signing, checkpointInterval: interval };
  }
  const json = headerJsonBytes(fields);
  const encoder = new NativeEncoder(json, {
    compression,
    ...(options.encryption ? { encryption: options.encryption } : {}),
    ...(signing ? { signing } : {}),
    maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
  });
  const plan: WriterPlan = { header: encodeNativeHeader(json), encode: (m) => encoder.data(m) };
  if (signing) plan.finish = () => encoder.checkpoint(true);
  const framer = encoder.plainFramer();
  if (framer) plan.framer = framer;
  return plan;
}

/** A whole log in memory: header, every message, and the closing checkpoint of a signed log. */
export async function encodeEaplog(messages: Iterable<Uint8Array>, options: LogFormatOptions = {}): Promise<Uint8Array> {
  const plan = await planNewLog(options);
  const parts = [plan.header];
  for (const message of messages) parts.push(await plan.encode(message));
  if (plan.finish) parts.push(await plan.finish());
  return concatBytes(parts);
}
