// SPDX-License-Identifier: Apache-2.0
// Constants and the header model of the .eaplog format (spec §6.1, §6.4).
import { ValidationError } from '@ecps/core';
import { PyFloat, pyObject } from './py-json';
import type { PyJson, PyObject } from './py-json';

/** The four versions a log header can declare. */
export const EAPLOG_VERSIONS = ['1.0', '1.1', '2.0', '2.1'] as const;
export type EaplogVersion = (typeof EAPLOG_VERSIONS)[number];
export const LATEST_VERSION: EaplogVersion = '2.1';

/** How the bytes of a file are laid out (spec §6.2). */
export type EaplogLayout = 'v1.0' | 'reference' | 'magic-first' | 'ecps-v2';
export type Framing = 'reference' | 'ecps-v2';
export type Compression = 'none' | 'deflate' | 'zstd';
export type Encryption = 'none' | 'aes-256-gcm';

export const MAGIC = 'EAPLOG';
/** Every header JSON of the reference layout starts with these bytes. */
export const HEADER_PREFIX = '{"magic":"EAPLOG"';
export const SDK_VERSION = '1.0.0';
/** Default largest record (spec §6.6); configurable per reader and writer. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CHECKPOINT_INTERVAL = 64;

export const RECORD_DATA = 0x01;
export const RECORD_CHECKPOINT = 0x02;
export const CHECKPOINT_BODY_BYTES = 106;
export const CHAIN_DOMAIN = 'ecps-eaplog-chain-v1';
export const CHECKPOINT_DOMAIN = 'ecps-eaplog-checkpoint-v1';

/** Typed view of a header. `metadata` stays ordered; `createdAt` keeps whether it was an int (Go writer). */
export interface HeaderFields {
  version: string;
  createdAt: number;
  sdkVersion?: string;
  robotId: string | null;
  sessionId: string | null;
  compression: Compression;
  encryption: Encryption;
  metadata: PyObject;
  framing?: Framing;
  keyId?: string;
  /** The record key as wrapped by a KMS (header key `data_key`), when the log uses envelope encryption. */
  dataKey?: WrappedDataKey;
  signing?: 'ed25519-chain';
  /** 64 lowercase hex characters. */
  signingKey?: string;
  checkpointInterval?: number;
  /**
   * Keys this implementation does not know, in file order (read only). A newer writer may add keys; they are ignored
   * here, and an appending writer keeps the header bytes exactly as they are.
   */
  extensions?: PyObject;
}

/**
 * A data key wrapped by a KMS key (header key `data_key`): `kms` names the service kind (`aws-kms`, `vault`, ...),
 * `kek` the wrapping key's id in it, `wrapped` the opaque bytes its unwrap operation takes.
 */
export interface WrappedDataKey {
  kms: string;
  kek: string;
  wrapped: Uint8Array;
}

/** The keys {@link headerFields} understands; any other key is an extension. */
const KNOWN_KEYS = new Set([
  'magic', 'version', 'created_at', 'sdk_version', 'robot_id', 'session_id', 'compression', 'encryption', 'checksum_type', 'metadata',
  'framing', 'key_id', 'data_key', 'signing', 'signing_key', 'checkpoint_interval',
]);

/** Builds a header object with the exact key order of spec §6.1 and §6.4. */
export function buildHeader(fields: HeaderFields): PyObject {
  const header = pyObject([
    ['magic', MAGIC],
    ['version', fields.version],
    ['created_at', new PyFloat(fields.createdAt)],
    ['sdk_version', fields.sdkVersion ?? SDK_VERSION],
    ['robot_id', fields.robotId],
    ['session_id', fields.sessionId],
    ['compression', fields.compression],
    ['encryption', fields.encryption],
    ['checksum_type', 'crc32'],
    ['metadata', fields.metadata],
  ]);
  if (fields.framing === 'ecps-v2') {
    header.set('framing', 'ecps-v2');
    if (fields.encryption !== 'none') header.set('key_id', fields.keyId ?? '');
    if (fields.encryption !== 'none' && fields.dataKey) {
      const { kms, kek, wrapped } = fields.dataKey;
      header.set('data_key', pyObject([['kms', kms], ['kek', kek], ['wrapped', Buffer.from(wrapped).toString('base64')]]));
    }
    if (fields.signing !== undefined) {
      header.set('signing', fields.signing);
      header.set('signing_key', fields.signingKey ?? '');
      header.set('checkpoint_interval', BigInt(fields.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL));
    }
  }
  return header;
}

const str = (value: PyJson | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

/** A key whose value must be a string when present (it changes how the records are read). */
function option(header: PyObject, key: string): string | undefined {
  const value = header.get(key);
  if (value === undefined || typeof value === 'string') return value;
  throw new ValidationError('UNSUPPORTED', `header key ${key} must be a string, not ${JSON.stringify(pyDumpsShort(value))}`);
}

const pyDumpsShort = (value: PyJson): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : value instanceof Map ? 'an object' : String(value instanceof PyFloat ? value.value : value));
const strOrNull = (value: PyJson | undefined): string | null => (typeof value === 'string' ? value : null);

/** Number of a JSON number value (int or float), or undefined. */
export function pyNumber(value: PyJson | undefined): number | undefined {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof PyFloat) return value.value;
  return undefined;
}

/** Reads the typed fields of a parsed header; throws `UNSUPPORTED` for values this implementation cannot handle. */
export function headerFields(header: PyObject): HeaderFields {
  const compression = option(header, 'compression') ?? 'none';
  const encryption = option(header, 'encryption') ?? 'none';
  if (!['none', 'deflate', 'zstd'].includes(compression)) {
    throw new ValidationError('UNSUPPORTED', `unsupported compression ${JSON.stringify(compression)}`);
  }
  if (!['none', 'aes-256-gcm'].includes(encryption)) {
    throw new ValidationError('UNSUPPORTED', `unsupported encryption ${JSON.stringify(encryption)}`);
  }
  const framingValue = option(header, 'framing');
  if (framingValue !== undefined && framingValue !== 'ecps-v2') {
    throw new ValidationError('UNSUPPORTED', `unsupported framing ${JSON.stringify(framingValue)}`);
  }
  const metadata = header.get('metadata');
  const fields: HeaderFields = {
    version: str(header.get('version')) ?? '',
    createdAt: pyNumber(header.get('created_at')) ?? 0,
    robotId: strOrNull(header.get('robot_id')),
    sessionId: strOrNull(header.get('session_id')),
    compression: compression as Compression,
    encryption: encryption as Encryption,
    metadata: metadata instanceof Map ? metadata : pyObject(),
  };
  const sdk = str(header.get('sdk_version'));
  if (sdk !== undefined) fields.sdkVersion = sdk;
  const extensions = pyObject([...header].filter(([key]) => !KNOWN_KEYS.has(key)));
  if (extensions.size > 0) fields.extensions = extensions;
  if (framingValue === 'ecps-v2') {
    fields.framing = 'ecps-v2';
    const keyId = option(header, 'key_id');
    if (keyId !== undefined) fields.keyId = keyId;
    const dataKey = header.get('data_key');
    if (dataKey !== undefined) fields.dataKey = wrappedDataKey(dataKey);
    const signing = option(header, 'signing');
    if (signing !== undefined) {
      if (signing !== 'ed25519-chain') throw new ValidationError('UNSUPPORTED', `unsupported signing ${JSON.stringify(signing)}`);
      fields.signing = signing;
      const key = str(header.get('signing_key'));
      if (key === undefined || !/^[0-9a-f]{64}$/.test(key)) {
        throw new ValidationError('LOG_CORRUPT', 'signing_key must be 64 lowercase hex characters');
      }
      fields.signingKey = key;
      const interval = pyNumber(header.get('checkpoint_interval')) ?? DEFAULT_CHECKPOINT_INTERVAL;
      if (!Number.isInteger(interval) || interval < 1) throw new ValidationError('LOG_CORRUPT', 'checkpoint_interval must be an integer >= 1');
      fields.checkpointInterval = interval;
    }
  }
  return fields;
}

/** Reads a `data_key` header value. @throws ValidationError `LOG_CORRUPT` when it is not the object described above. */
function wrappedDataKey(value: PyJson): WrappedDataKey {
  const kms = value instanceof Map ? str(value.get('kms')) : undefined;
  const kek = value instanceof Map ? str(value.get('kek')) : undefined;
  const wrapped = value instanceof Map ? str(value.get('wrapped')) : undefined;
  if (kms === undefined || kek === undefined || wrapped === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(wrapped) || wrapped.length % 4 !== 0) {
    throw new ValidationError('LOG_CORRUPT', 'data_key must be an object with string kms, kek and base64 wrapped');
  }
  return { kms, kek, wrapped: new Uint8Array(Buffer.from(wrapped, 'base64')) };
}

/**
 * Maps a declared version to the one we read it as (spec §6.2): known versions as is; an unknown minor of major 1 or 2
 * as that major's highest known minor (`warning` set). Throws `UNSUPPORTED_VERSION` for anything else.
 */
export function resolveVersion(declared: string): { version: EaplogVersion; warning?: string } {
  if ((EAPLOG_VERSIONS as readonly string[]).includes(declared)) return { version: declared as EaplogVersion };
  const match = /^(\d+)\.(\d+)$/.exec(declared);
  if (match?.[1] === '1') return { version: '1.1', warning: `unknown version ${declared}, read as 1.1` };
  if (match?.[1] === '2') return { version: '2.1', warning: `unknown version ${declared}, read as 2.1` };
  throw new ValidationError('UNSUPPORTED_VERSION', `unsupported log version ${JSON.stringify(declared)}`, {
    details: { version: declared },
  });
}

/** u32 little-endian into a fresh 4-byte array. */
export function u32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

/** u64 little-endian into a fresh 8-byte array. */
export function u64le(value: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

