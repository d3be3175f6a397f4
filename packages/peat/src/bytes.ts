// SPDX-License-Identifier: Apache-2.0
// Small byte helpers shared by the frame codec and the security messages: a bounds-checked reader and writer.
import { PeatError } from './errors';

export { concatBytes } from '@ecps/core';

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

export function encodeUtf8(text: string): Uint8Array {
  return utf8.encode(text);
}

/** @throws PeatError `DECODE_ERROR` on invalid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch (cause) {
    throw new PeatError('DECODE_ERROR', 'invalid UTF-8', { cause });
  }
}


export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `[u16 BE len][bytes]`. @throws PeatError `INVALID_ARGUMENT` when longer than 65,535 bytes. */
export function lp(bytes: Uint8Array | string): Uint8Array {
  const b = typeof bytes === 'string' ? encodeUtf8(bytes) : bytes;
  if (b.length > 0xffff) throw new PeatError('INVALID_ARGUMENT', `length-prefixed field of ${b.length} bytes exceeds 65535`);
  const out = new Uint8Array(2 + b.length);
  out[0] = b.length >>> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

/** Appends big-endian integers and byte strings into a growing buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.room(1);
    this.view.setUint8(this.at, v);
    this.at += 1;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.view.setUint16(this.at, v);
    this.at += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.at, v);
    this.at += 4;
    return this;
  }
  u64(v: bigint | number): this {
    this.room(8);
    this.view.setBigUint64(this.at, BigInt(v));
    this.at += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  /** `[u16 len][bytes]`. */
  lp(b: Uint8Array | string): this {
    return this.bytes(lp(b));
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

/** Reads big-endian integers and byte strings; every read past the end throws `DECODE_ERROR`. */
export class ByteReader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }
  get offset(): number {
    return this.at;
  }

  private need(n: number, what: string): void {
    if (this.at + n > this.buf.length) {
      throw new PeatError('DECODE_ERROR', `truncated ${what}: need ${n} bytes at offset ${this.at}, have ${this.remaining}`, {
        details: { offset: this.at, need: n },
      });
    }
  }
  u8(what = 'u8'): number {
    this.need(1, what);
    return this.view.getUint8(this.at++);
  }
  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }
  u64(what = 'u64'): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.at);
    this.at += 8;
    return v;
  }
  /** A u64 that must fit a JS number exactly (times, counters). @throws PeatError `DECODE_ERROR` above 2^53 − 1. */
  safeU64(what = 'u64'): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeatError('DECODE_ERROR', `${what} ${v} is out of range`);
    return Number(v);
  }
  /** A view (no copy) of the next `n` bytes. */
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  lp(what = 'field'): Uint8Array {
    return this.bytes(this.u16(`${what} length`), what);
  }
  lpString(what = 'string'): string {
    return decodeUtf8(this.lp(what));
  }
  /** @throws PeatError `DECODE_ERROR` when bytes are left over. */
  end(what: string): void {
    if (this.remaining !== 0) throw new PeatError('DECODE_ERROR', `${this.remaining} trailing bytes after ${what}`);
  }
}
