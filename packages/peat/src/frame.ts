// SPDX-License-Identifier: Apache-2.0
// The one frame every transport carries (the reference's wire framing, spec §6.5), its batch form, and the
// payloads we define for digests, change signatures and tombstones. Every length is checked against the bytes
// present and against a configured bound before anything is allocated.
import { ByteReader, ByteWriter, decodeUtf8 } from './bytes';
import { PeatError } from './errors';

/** Frame types (`u8 msg_type`). */
export const FrameType = {
  DeltaSync: 0x00,
  StateSnapshot: 0x01,
  WindowedHistory: 0x02,
  Tombstone: 0x04,
  TombstoneBatch: 0x05,
  TombstoneAck: 0x06,
  SyncBatch: 0x07,
  NegentropyInit: 0x08,
  NegentropyResponse: 0x09,
  NegentropyRequest: 0x0a,
  ChangeSignatures: 0x0b,
  Digest: 0x0c,
  /** Ours: a message for the application above the replica (the cell message bus), under the group's doc key. */
  Application: 0x0d,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(FrameType));

/** One frame: the doc key it is about, its type and its payload. */
export interface Frame {
  readonly key: string;
  readonly type: FrameTypeValue;
  readonly payload: Uint8Array;
}

/** Hop budget of a batch when none is given. */
export const DEFAULT_BATCH_TTL = 5;
/** Doc key a SyncBatch travels under. */
export const BATCH_KEY = 'batch';
/** Default bound on one frame's payload (the reference's 10 MB in-flight limit fits one frame). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export interface SyncBatch {
  readonly batchId: bigint;
  readonly createdAt: number;
  readonly ttl: number;
  readonly frames: readonly Frame[];
}

function writeFrame(w: ByteWriter, frame: Frame): void {
  w.lp(frame.key).u8(frame.type).u32(frame.payload.length).bytes(frame.payload);
}

function readFrame(r: ByteReader, maxPayload: number): Frame {
  const key = decodeUtf8(r.lp('doc key'));
  const type = r.u8('frame type');
  if (!KNOWN_TYPES.has(type)) throw new PeatError('DECODE_ERROR', `unknown frame type 0x${type.toString(16)}`, { details: { type } });
  const len = r.u32('payload length');
  if (len > maxPayload) {
    throw new PeatError('FRAME_TOO_LARGE', `frame payload of ${len} bytes exceeds ${maxPayload}`, { details: { len, maxPayload } });
  }
  return { key, type: type as FrameTypeValue, payload: r.bytes(len, 'payload') };
}

/** `[u16 key_len][key][u8 type][u32 payload_len][payload]`. @throws PeatError `INVALID_ARGUMENT` for a key over 65,535 bytes. */
export function encodeFrame(frame: Frame): Uint8Array {
  const w = new ByteWriter(7 + frame.key.length + frame.payload.length);
  writeFrame(w, frame);
  return w.finish();
}

/**
 * Decodes one frame; the payload is a view into `bytes`.
 * @throws PeatError `DECODE_ERROR` (truncated, trailing bytes, unknown type, bad UTF-8), `FRAME_TOO_LARGE`.
 */
export function decodeFrame(bytes: Uint8Array, maxPayload = DEFAULT_MAX_FRAME_BYTES): Frame {
  const r = new ByteReader(bytes);
  const frame = readFrame(r, maxPayload);
  r.end('frame');
  return frame;
}

/** A SyncBatch frame (type 0x07 under key `batch`). */
export function encodeSyncBatch(batch: SyncBatch): Frame {
  const w = new ByteWriter();
  w.u64(batch.batchId).u64(Math.trunc(batch.createdAt)).u8(batch.ttl).u32(batch.frames.length);
  for (const f of batch.frames) writeFrame(w, f);
  return { key: BATCH_KEY, type: FrameType.SyncBatch, payload: w.finish() };
}

/**
 * @throws PeatError `DECODE_ERROR` (also for a nested batch and a count the bytes cannot hold), `FRAME_TOO_LARGE`.
 */
export function decodeSyncBatch(payload: Uint8Array, maxPayload = DEFAULT_MAX_FRAME_BYTES): SyncBatch {
  const r = new ByteReader(payload);
  const batchId = r.u64('batch id');
  const createdAt = r.safeU64('created_at');
  const ttl = r.u8('ttl');
  const n = r.u32('entry count');
  // the smallest entry is 7 bytes: a declared count the payload cannot hold is refused before looping
  if (n * 7 > r.remaining) throw new PeatError('DECODE_ERROR', `batch declares ${n} entries in ${r.remaining} bytes`);
  const frames: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const f = readFrame(r, maxPayload);
    if (f.type === FrameType.SyncBatch) throw new PeatError('DECODE_ERROR', 'nested SyncBatch');
    frames.push(f);
  }
  r.end('sync batch');
  return { batchId, createdAt, ttl, frames };
}

/** One digest entry: a doc id and the first 8 bytes of sha256 over its sorted heads. */
export interface DigestEntry {
  readonly id: string;
  readonly hash: Uint8Array;
}

/** Digest of one collection (type 0x0C, key = collection): `[u32 n] n × [lp(id)][hash 8]`. */
export function encodeDigest(collection: string, entries: readonly DigestEntry[]): Frame {
  const w = new ByteWriter(4 + entries.length * 24);
  w.u32(entries.length);
  for (const e of entries) w.lp(e.id).bytes(e.hash);
  return { key: collection, type: FrameType.Digest, payload: w.finish() };
}

/** @throws PeatError `DECODE_ERROR`. */
export function decodeDigest(payload: Uint8Array): DigestEntry[] {
  const r = new ByteReader(payload);
  const n = r.u32('digest count');
  if (n * 10 > r.remaining) throw new PeatError('DECODE_ERROR', `digest declares ${n} entries in ${r.remaining} bytes`);
  const out: DigestEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ id: decodeUtf8(r.lp('doc id')), hash: r.bytes(8, 'digest hash') });
  r.end('digest');
  return out;
}

/** One change signature: `[hash 32][signer_pubkey 32][sig 64]`. */
export interface ChangeSignature {
  /** The change hash (or, for a snapshot, sha256 over the sorted heads). */
  readonly hash: Uint8Array;
  readonly signer: Uint8Array;
  readonly signature: Uint8Array;
}

export const CHANGE_SIGNATURE_BYTES = 128;

/** ChangeSignatures frame (type 0x0B, key = the doc key): entries back to back. */
export function encodeChangeSignatures(key: string, entries: readonly ChangeSignature[]): Frame {
  const w = new ByteWriter(entries.length * CHANGE_SIGNATURE_BYTES);
  for (const e of entries) {
    if (e.hash.length !== 32 || e.signer.length !== 32 || e.signature.length !== 64) {
      throw new PeatError('INVALID_ARGUMENT', 'a change signature entry is [hash 32][pubkey 32][sig 64]');
    }
    w.bytes(e.hash).bytes(e.signer).bytes(e.signature);
  }
  return { key, type: FrameType.ChangeSignatures, payload: w.finish() };
}

/** @throws PeatError `DECODE_ERROR` when the payload is not a whole number of 128-byte entries. */
export function decodeChangeSignatures(payload: Uint8Array): ChangeSignature[] {
  if (payload.length % CHANGE_SIGNATURE_BYTES !== 0) {
    throw new PeatError('DECODE_ERROR', `change signatures of ${payload.length} bytes are not a multiple of 128`);
  }
  const out: ChangeSignature[] = [];
  for (let at = 0; at < payload.length; at += CHANGE_SIGNATURE_BYTES) {
    out.push({
      hash: payload.subarray(at, at + 32),
      signer: payload.subarray(at + 32, at + 64),
      signature: payload.subarray(at + 64, at + 128),
    });
  }
  return out;
}

/** A deletion record, kept beside the documents (never inside Automerge). */
export interface Tombstone {
  readonly collection: string;
  readonly documentId: string;
  /** Unix ms. */
  readonly deletedAt: number;
  /** DeviceId of the deleting node. */
  readonly deletedBy: string;
  readonly lamport: number;
  readonly reason?: string;
}

function writeTombstone(w: ByteWriter, t: Tombstone): void {
  w.lp(t.collection).lp(t.documentId).u64(Math.trunc(t.deletedAt)).lp(t.deletedBy).u64(t.lamport);
  if (t.reason === undefined) w.u8(0);
  else w.u8(1).lp(t.reason);
}

function readTombstone(r: ByteReader): Tombstone {
  const collection = r.lpString('collection');
  const documentId = r.lpString('document id');
  const deletedAt = r.safeU64('deleted_at');
  const deletedBy = r.lpString('deleted_by');
  const lamport = r.safeU64('lamport');
  const flag = r.u8('reason flag');
  if (flag > 1) throw new PeatError('DECODE_ERROR', `bad reason flag ${flag}`);
  return flag === 1 ? { collection, documentId, deletedAt, deletedBy, lamport, reason: r.lpString('reason') } : { collection, documentId, deletedAt, deletedBy, lamport };
}

export function encodeTombstone(t: Tombstone): Frame {
  const w = new ByteWriter();
  writeTombstone(w, t);
  return { key: `${t.collection}:${t.documentId}`, type: FrameType.Tombstone, payload: w.finish() };
}

/** @throws PeatError `DECODE_ERROR`. */
export function decodeTombstone(payload: Uint8Array): Tombstone {
  const r = new ByteReader(payload);
  const t = readTombstone(r);
  r.end('tombstone');
  return t;
}

/** TombstoneBatch (type 0x05): `[u32 n] n × tombstone`. */
export function encodeTombstoneBatch(tombstones: readonly Tombstone[]): Frame {
  const w = new ByteWriter();
  w.u32(tombstones.length);
  for (const t of tombstones) writeTombstone(w, t);
  return { key: '', type: FrameType.TombstoneBatch, payload: w.finish() };
}

/** @throws PeatError `DECODE_ERROR`. */
export function decodeTombstoneBatch(payload: Uint8Array): Tombstone[] {
  const r = new ByteReader(payload);
  const n = r.u32('tombstone count');
  // the smallest tombstone is 25 bytes
  if (n * 25 > r.remaining) throw new PeatError('DECODE_ERROR', `batch declares ${n} tombstones in ${r.remaining} bytes`);
  const out: Tombstone[] = [];
  for (let i = 0; i < n; i++) out.push(readTombstone(r));
  r.end('tombstone batch');
  return out;
}

/** TombstoneAck (type 0x06): the doc keys whose tombstones arrived, `[u32 n] n × lp(key)`. */
export function encodeTombstoneAck(keys: readonly string[]): Frame {
  const w = new ByteWriter();
  w.u32(keys.length);
  for (const k of keys) w.lp(k);
  return { key: '', type: FrameType.TombstoneAck, payload: w.finish() };
}

/** @throws PeatError `DECODE_ERROR`. */
export function decodeTombstoneAck(payload: Uint8Array): string[] {
  const r = new ByteReader(payload);
  const n = r.u32('ack count');
  if (n * 2 > r.remaining) throw new PeatError('DECODE_ERROR', `ack declares ${n} keys in ${r.remaining} bytes`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.lpString('doc key'));
  r.end('tombstone ack');
  return out;
}

