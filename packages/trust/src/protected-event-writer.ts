// SPDX-License-Identifier: Apache-2.0
// The encoding of a ProtectedEvent in one pass into one buffer sized up front: the generated encoder (chunks,
// forks, a concatenation at the end) costs more per 1 KiB message than the session AEAD does. Its output is
// byte-identical to `ProtectedEvent.encode(...).finish()` (a property test holds it to that); a message carrying
// delegations (rare: forwarding) goes through the generated encoder. Session mode encodes into reused memory (its
// plaintext is sealed at once), so a message allocates nothing before the record it is sealed into.
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

/** Strings up to this length are measured and written by a loop in JavaScript when they are ASCII (ids, topics). */
const SHORT = 64;

/** UTF-8 length of `value`: a short ASCII string without a call into native code. */
function utf8Length(value: string): number {
  if (value.length <= SHORT) {
    let i = 0;
    while (i < value.length && value.charCodeAt(i) < 0x80) i++;
    if (i === value.length) return i;
  }
  return Buffer.byteLength(value);
}

function writeString(out: Buffer, at: number, tag: number, value: string, length: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, length);
  // as many UTF-8 bytes as UTF-16 units: ASCII (any other code point takes more bytes than units)
  if (length === value.length && length <= SHORT) {
    for (let i = 0; i < length; i++) out[at + i] = value.charCodeAt(i);
    return at + length;
  }
  return at + out.write(value, at, length, 'utf8');
}

function writeBytes(out: Buffer, at: number, tag: number, value: Uint8Array): number {
  out[at++] = tag;
  at = writeVarint(out, at, value.length);
  out.set(value, at);
  return at + value.length;
}

/** A message measured for writing: its encoded size and the UTF-8 lengths of its fields. */
interface Measured {
  readonly size: number;
  /** The generated encoder's output, for a message carrying delegations. */
  readonly generated?: Uint8Array;
  readonly tsLo: number;
  readonly tsHi: number;
  readonly id: number;
  readonly source: number;
  readonly type: number;
  readonly time: number;
  readonly contentType: number;
  readonly sender: number;
  readonly destination: number;
  readonly entries: readonly (readonly [string, number, string, number])[];
}

const NO_ENTRIES: Measured['entries'] = [];

/** @throws Error for a `timestampNs` outside uint64 (as the generated encoder). */
function measure(message: ProtectedEvent): Measured {
  if (message.delegations.length > 0) {
    const generated = ProtectedEvent.encode(message).finish();
    return { size: generated.length, generated, tsLo: 0, tsHi: 0, id: 0, source: 0, type: 0, time: 0, contentType: 0, sender: 0, destination: 0, entries: NO_ENTRIES };
  }
  const ts = message.timestampNs;
  if (BigInt.asUintN(64, ts) !== ts) throw new Error('value provided for field message.timestampNs of type uint64 too large');
  const tsLo = Number(ts & 0xffff_ffffn);
  const tsHi = Number(ts >> 32n);
  const id = utf8Length(message.id);
  const source = utf8Length(message.source);
  const type = utf8Length(message.type);
  const time = utf8Length(message.time);
  const contentType = utf8Length(message.datacontenttype);
  const sender = utf8Length(message.senderId);
  const destination = utf8Length(message.destination);
  let size = 0;
  if (id > 0) size += fieldSize(id);
  if (source > 0) size += fieldSize(source);
  if (type > 0) size += fieldSize(type);
  if (time > 0) size += fieldSize(time);
  if (contentType > 0) size += fieldSize(contentType);
  let entries = NO_ENTRIES as [string, number, string, number][];
  for (const key in message.extensions) {
    const value = message.extensions[key]!;
    const k = utf8Length(key);
    const v = utf8Length(value);
    if (entries === NO_ENTRIES) entries = [];
    entries.push([key, k, value, v]);
    size += fieldSize((k > 0 ? fieldSize(k) : 0) + (v > 0 ? fieldSize(v) : 0));
  }
  if (message.data.length > 0) size += fieldSize(message.data.length);
  if (sender > 0) size += fieldSize(sender);
  if (ts !== 0n) size += 1 + varint64Size(tsLo, tsHi);
  if (message.nonce.length > 0) size += fieldSize(message.nonce.length);
  if (destination > 0) size += fieldSize(destination);
  return { size, tsLo, tsHi, id, source, type, time, contentType, sender, destination, entries };
}

/** Writes `message`, measured as `m`, into `out` at `at`; returns where it ends. */
function write(out: Buffer, at: number, message: ProtectedEvent, m: Measured): number {
  if (m.generated) {
    out.set(m.generated, at);
    return at + m.generated.length;
  }
  if (m.id > 0) at = writeString(out, at, 10, message.id, m.id);
  if (m.source > 0) at = writeString(out, at, 18, message.source, m.source);
  if (m.type > 0) at = writeString(out, at, 26, message.type, m.type);
  if (m.time > 0) at = writeString(out, at, 34, message.time, m.time);
  if (m.contentType > 0) at = writeString(out, at, 42, message.datacontenttype, m.contentType);
  for (const [key, k, value, v] of m.entries) {
    out[at++] = 50;
    at = writeVarint(out, at, (k > 0 ? fieldSize(k) : 0) + (v > 0 ? fieldSize(v) : 0));
    if (k > 0) at = writeString(out, at, 10, key, k);
    if (v > 0) at = writeString(out, at, 18, value, v);
  }
  if (message.data.length > 0) at = writeBytes(out, at, 58, message.data);
  if (m.sender > 0) at = writeString(out, at, 66, message.senderId, m.sender);
  if (message.timestampNs !== 0n) {
    out[at++] = 72;
    at = writeVarint64(out, at, m.tsLo, m.tsHi);
  }
  if (message.nonce.length > 0) at = writeBytes(out, at, 82, message.nonce);
  if (m.destination > 0) at = writeString(out, at, 90, message.destination, m.destination);
  return at;
}

/**
 * Encodes `message` as `ProtectedEvent.encode(message).finish()` does, in one allocation.
 * @throws Error for a `timestampNs` outside uint64 (as the generated encoder).
 */
export function encodeProtectedEvent(message: ProtectedEvent): Uint8Array {
  const m = measure(message);
  if (m.generated) return m.generated;
  const out = Buffer.allocUnsafe(m.size);
  return new Uint8Array(out.buffer, out.byteOffset, write(out, 0, message, m));
}

/** Scratch memory kept between calls at most; a larger plaintext gets memory of its own. */
const MAX_KEPT_BYTES = 64 * 1024;

/**
 * Encodes plaintexts that are sealed at once into memory it reuses, so that a message costs no allocation before the
 * record it is sealed into. Each result is valid until the next call (not safe to keep).
 */
export class ProtectedEventScratch {
  private memory = Buffer.allocUnsafe(4096);

  /** `message` as {@link encodeProtectedEvent} encodes it. */
  one(message: ProtectedEvent): Uint8Array {
    const m = measure(message);
    const out = this.room(m.size);
    return out.subarray(0, write(out, 0, message, m));
  }

  /**
   * A batched record's plaintext: `marker`, then each message with a u32 (big-endian) length first; undefined,
   * writing nothing, when that would exceed `maxBytes`.
   */
  batch(messages: readonly ProtectedEvent[], marker: number, maxBytes: number): Uint8Array | undefined {
    const measured = messages.map(measure);
    let length = 1;
    for (const m of measured) length += 4 + m.size;
    if (length > maxBytes) return undefined;
    const out = this.room(length);
    out[0] = marker;
    let at = 1;
    for (let i = 0; i < messages.length; i++) {
      at = out.writeUInt32BE(measured[i]!.size, at);
      at = write(out, at, messages[i]!, measured[i]!);
    }
    return out.subarray(0, at);
  }

  private room(size: number): Buffer {
    if (size <= this.memory.length) return this.memory;
    const memory = Buffer.allocUnsafe(size);
    if (size <= MAX_KEPT_BYTES) this.memory = memory;
    return memory;
  }
}
