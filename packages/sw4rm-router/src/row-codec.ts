// SPDX-License-Identifier: Apache-2.0
// The router's binary records (no JSON, no base64): keys name the record, values are fixed little-endian headers
// followed by raw bytes. Every value starts with a format version byte.
import { EcpsError } from '@ecps/core';

const V1 = 1;

/** A stored delivery row: header plus the envelope bytes exactly as received. */
export interface RowRecord {
  kind: 'msg' | 'nack';
  enqueuedAt: number;
  /** 0 = never. */
  expiresAt: number;
  attempts: number;
  envelope: Uint8Array;
}

/** A stored agent: the next per-recipient `seq` and when it was last connected. */
export interface AgentRecord {
  /** Highest `seq` ever assigned to this agent (never reused). */
  highWater: bigint;
  lastSeenMs: number;
}

/** A stored dedup record. */
export interface DedupRecordBytes {
  original: string;
  acceptedAt: number;
}

const ROW_HEADER = 1 + 1 + 8 + 8 + 4;

const corrupt = (what: string) => new EcpsError('LOG_CORRUPT', `router store: ${what} record is malformed`);

export function encodeRow(r: RowRecord): Uint8Array {
  const out = new Uint8Array(ROW_HEADER + r.envelope.length);
  const v = new DataView(out.buffer);
  out[0] = V1;
  out[1] = r.kind === 'nack' ? 1 : 0;
  v.setFloat64(2, r.enqueuedAt, true);
  v.setFloat64(10, r.expiresAt, true);
  v.setUint32(18, r.attempts, true);
  out.set(r.envelope, ROW_HEADER);
  return out;
}

/** @throws EcpsError LOG_CORRUPT for a value this version cannot read. */
export function decodeRow(b: Uint8Array): RowRecord {
  if (b.length < ROW_HEADER || b[0] !== V1) throw corrupt('row');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    kind: b[1] === 1 ? 'nack' : 'msg',
    enqueuedAt: v.getFloat64(2, true),
    expiresAt: v.getFloat64(10, true),
    attempts: v.getUint32(18, true),
    envelope: b.slice(ROW_HEADER),
  };
}

export function encodeAgent(a: AgentRecord): Uint8Array {
  const out = new Uint8Array(17);
  const v = new DataView(out.buffer);
  out[0] = V1;
  v.setBigUint64(1, a.highWater, true);
  v.setFloat64(9, a.lastSeenMs, true);
  return out;
}

/** @throws EcpsError LOG_CORRUPT. */
export function decodeAgent(b: Uint8Array): AgentRecord {
  if (b.length !== 17 || b[0] !== V1) throw corrupt('agent');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { highWater: v.getBigUint64(1, true), lastSeenMs: v.getFloat64(9, true) };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function encodeDedup(d: DedupRecordBytes): Uint8Array {
  const id = utf8.encode(d.original);
  const out = new Uint8Array(9 + id.length);
  out[0] = V1;
  new DataView(out.buffer).setFloat64(1, d.acceptedAt, true);
  out.set(id, 9);
  return out;
}

/** @throws EcpsError LOG_CORRUPT. */
export function decodeDedup(b: Uint8Array): DedupRecordBytes {
  if (b.length < 9 || b[0] !== V1) throw corrupt('dedup');
  return { acceptedAt: new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(1, true), original: fromUtf8.decode(b.subarray(9)) };
}

/** Store keys: `r/<agent>\0<seq as 16 hex digits>`, `a/<agent>`, `d/<dedup key>`. */
export const keys = {
  row: (agentId: string, seq: bigint) => `r/${agentId}\u0000${seq.toString(16).padStart(16, '0')}`,
  parseRow(key: string): { agentId: string; seq: bigint } {
    const nul = key.lastIndexOf('\u0000');
    if (!key.startsWith('r/') || nul < 0) throw corrupt('row key');
    return { agentId: key.slice(2, nul), seq: BigInt(`0x${key.slice(nul + 1)}`) };
  },
  agent: (agentId: string) => `a/${agentId}`,
  dedup: (key: string) => `d/${key}`,
};
