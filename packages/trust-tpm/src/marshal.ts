// SPDX-License-Identifier: Apache-2.0
// Big-endian TPM 2.0 marshalling (TPM 2.0 Library, Part 2): integers, sized buffers (TPM2B), and a bounded reader
// for bytes that may come from an attacker (the verifier parses quotes with it).
import { TrustError } from '@ecps/trust';

/** Appends TPM-marshalled values; `bytes()` returns the result. */
export class TpmWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  u8(value: number): this {
    return this.raw(Uint8Array.of(value & 0xff));
  }

  u16(value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value);
    return this.raw(b);
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0);
    return this.raw(b);
  }

  u64(value: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value);
    return this.raw(b);
  }

  /** A TPM2B: u16 size, then the bytes. @throws TrustError `INVALID_ARGUMENT` above 65535 bytes. */
  sized(bytes: Uint8Array): this {
    if (bytes.length > 0xffff) throw new TrustError('INVALID_ARGUMENT', `TPM2B of ${bytes.length} bytes exceeds 65535`);
    return this.u16(bytes.length).raw(bytes);
  }

  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Reads TPM-marshalled values; every read past the end throws `DECODE_ERROR`, never returns garbage. */
export class TpmReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly buffer: Uint8Array,
    private readonly what = 'TPM structure',
  ) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private take(n: number): number {
    if (n > this.remaining) throw new TrustError('DECODE_ERROR', `truncated ${this.what}: needed ${n} bytes at offset ${this.offset}`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2));
  }

  u32(): number {
    return this.view.getUint32(this.take(4));
  }

  u64(): bigint {
    return this.view.getBigUint64(this.take(8));
  }

  raw(n: number): Uint8Array {
    const at = this.take(n);
    return this.buffer.slice(at, at + n);
  }

  /** A TPM2B; `max` bounds the size a structure may declare (`DECODE_ERROR` above it). */
  sized(max = 0xffff): Uint8Array {
    const n = this.u16();
    if (n > max) throw new TrustError('DECODE_ERROR', `${this.what}: sized field of ${n} bytes exceeds ${max}`);
    return this.raw(n);
  }

  /** @throws TrustError `DECODE_ERROR` when bytes are left over. */
  end(): void {
    if (this.remaining !== 0) throw new TrustError('DECODE_ERROR', `${this.remaining} trailing bytes after ${this.what}`);
  }
}
