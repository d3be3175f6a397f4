// SPDX-License-Identifier: Apache-2.0
// Byte layout helpers of the session messages: length-prefixed strings and fixed fields, big-endian. Every read is
// bounds-checked, so a truncated or hostile message fails with DECODE_ERROR and never allocates more than it holds.
import { TrustError } from './errors';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Appends fields to a growing list of chunks. */
export class WireWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  u8(value: number): this {
    return this.bytes(Uint8Array.of(value));
  }

  u16(value: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(value);
    return this.bytes(b);
  }

  u32(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(value);
    return this.bytes(b);
  }

  f64(value: number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(value);
    return this.bytes(b);
  }

  /** A string of at most 65 535 UTF-8 bytes, u16 length first. */
  str(value: string): this {
    const bytes = utf8.encode(value);
    if (bytes.length > 0xffff) throw new TrustError('INVALID_ARGUMENT', 'string field longer than 65535 bytes');
    return this.u16(bytes.length).bytes(bytes);
  }

  /** Bytes with a u16 length first. */
  blob(value: Uint8Array): this {
    if (value.length > 0xffff) throw new TrustError('INVALID_ARGUMENT', 'byte field longer than 65535 bytes');
    return this.u16(value.length).bytes(value);
  }

  bytes(value: Uint8Array): this {
    this.chunks.push(value);
    this.length += value.length;
    return this;
  }

  finish(): Uint8Array {
    const out = Buffer.allocUnsafe(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
}

/** Reads fields in order; every read throws TrustError `DECODE_ERROR` past the end. */
export class WireReader {
  private view: DataView;
  offset = 0;

  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): number {
    const at = this.offset;
    if (at + n > this.data.length) throw new TrustError('DECODE_ERROR', 'truncated session message');
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.need(1));
  }

  u16(): number {
    return this.view.getUint16(this.need(2));
  }

  u32(): number {
    return this.view.getUint32(this.need(4));
  }

  f64(): number {
    return this.view.getFloat64(this.need(8));
  }

  str(): string {
    const bytes = this.bytes(this.u16());
    try {
      return utf8Decoder.decode(bytes);
    } catch (cause) {
      throw new TrustError('DECODE_ERROR', 'session message string is not UTF-8', { cause });
    }
  }

  blob(): Uint8Array {
    return this.bytes(this.u16());
  }

  /** Moves past the next `n` bytes. */
  skip(n: number): void {
    this.need(n);
  }

  /** A view (no copy) of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.subarray(at, at + n);
  }

  /** @throws TrustError `DECODE_ERROR` when bytes are left over. */
  end(): void {
    if (this.offset !== this.data.length) throw new TrustError('DECODE_ERROR', 'trailing bytes in session message');
  }
}
