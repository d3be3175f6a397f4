// SPDX-License-Identifier: Apache-2.0
// The encoding of a ProtectedEvent in one pass into one buffer sized up front: the generated encoder (chunks,
// forks, a concatenation at the end) costs more per 1 KiB message than the session AEAD does. Its output is
// byte-identical to `ProtectedEvent.encode(...).finish()` (a property test holds it to that); a message carrying
// delegations (rare: forwarding) goes through the generated encoder.
import { varintSize, writeVarint } from '@ecps/core';
import { ProtectedEvent } from '@ecps/proto/ext/v1';

/** A uint64 varint from its low and high 32 bits. */
function writeVarint64(out: Buffer, at: number, lo: number, hi: number): number {
  while (hi > 0 || lo >= 0x80) {
    out[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  out[at++] = lo;
  return at;
}

function varint64Size(lo: number, hi: number): number {
  let size = 1;
  while (hi > 0 || lo >= 0x80) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    size++;
  }
  return size;
}

/** Size of a length-delimited field (one-byte tag) holding `length` bytes. */
const fieldSize = (length: number): number => 1 + varintSize(length) + length;

function writeString(out: Buffer, at: number, tag: number, value: string, length: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, length);
  return at + out.write(value, at, length, 'utf8');
}

function writeBytes(out: Buffer, at: number, tag: number, value: Uint8Array): number {
  out[at++] = tag;
  at = writeVarint(out, at, value.length);
  out.set(value, at);
  return at + value.length;
}

/**
 * Encodes `message` as `ProtectedEvent.encode(message).finish()` does, in one allocation.
 * @throws Error for a `timestampNs` outside uint64 (as the generated encoder).
 */
export function encodeProtectedEvent(message: ProtectedEvent): Uint8Array {
  if (message.delegations.length > 0) return ProtectedEvent.encode(message).finish();
  const ts = message.timestampNs;
  if (BigInt.asUintN(64, ts) !== ts) throw new Error('value provided for field message.timestampNs of type uint64 too large');
  const tsLo = Number(ts & 0xffff_ffffn);
  const tsHi = Number(ts >> 32n);
  const id = Buffer.byteLength(message.id);
  const source = Buffer.byteLength(message.source);
  const type = Buffer.byteLength(message.type);
  const time = Buffer.byteLength(message.time);
  const contentType = Buffer.byteLength(message.datacontenttype);
  const sender = Buffer.byteLength(message.senderId);
  const destination = Buffer.byteLength(message.destination);
  let size = 0;
  if (id > 0) size += fieldSize(id);
  if (source > 0) size += fieldSize(source);
  if (type > 0) size += fieldSize(type);
  if (time > 0) size += fieldSize(time);
  if (contentType > 0) size += fieldSize(contentType);
  const entries: [string, number, string, number][] = [];
  for (const key in message.extensions) {
    const value = message.extensions[key]!;
    const k = Buffer.byteLength(key);
    const v = Buffer.byteLength(value);
    entries.push([key, k, value, v]);
    size += fieldSize((k > 0 ? fieldSize(k) : 0) + (v > 0 ? fieldSize(v) : 0));
  }
  if (message.data.length > 0) size += fieldSize(message.data.length);
  if (sender > 0) size += fieldSize(sender);
  if (ts !== 0n) size += 1 + varint64Size(tsLo, tsHi);
  if (message.nonce.length > 0) size += fieldSize(message.nonce.length);
  if (destination > 0) size += fieldSize(destination);

  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (id > 0) at = writeString(out, at, 10, message.id, id);
  if (source > 0) at = writeString(out, at, 18, message.source, source);
  if (type > 0) at = writeString(out, at, 26, message.type, type);
  if (time > 0) at = writeString(out, at, 34, message.time, time);
  if (contentType > 0) at = writeString(out, at, 42, message.datacontenttype, contentType);
  for (const [key, k, value, v] of entries) {
    out[at++] = 50;
    at = writeVarint(out, at, (k > 0 ? fieldSize(k) : 0) + (v > 0 ? fieldSize(v) : 0));
    if (k > 0) at = writeString(out, at, 10, key, k);
    if (v > 0) at = writeString(out, at, 18, value, v);
  }
  if (message.data.length > 0) at = writeBytes(out, at, 58, message.data);
  if (sender > 0) at = writeString(out, at, 66, message.senderId, sender);
  if (ts !== 0n) {
    out[at++] = 72;
    at = writeVarint64(out, at, tsLo, tsHi);
  }
  if (message.nonce.length > 0) at = writeBytes(out, at, 82, message.nonce);
  if (destination > 0) at = writeString(out, at, 90, message.destination, destination);
  return new Uint8Array(out.buffer, out.byteOffset, at);
}
