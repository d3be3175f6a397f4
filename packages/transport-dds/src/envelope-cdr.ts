// SPDX-License-Identifier: Apache-2.0
// ecps::dds::Envelope <-> XCDR bytes (spec §9). We write XCDR1 little-endian (encapsulation 00 01 00 00), which is
// what Cyclone writes for this @final type; we read XCDR1 and XCDR2 little-endian (Cyclone hands samples over in
// native byte order). Strings are u32 length (NUL included) + UTF-8 + NUL; sequences are u32 count + elements;
// every u32 is 4-aligned from the end of the 4-byte header. XCDR2 adds a u32 byte-length (DHEADER) before the
// sequence of KeyValue structs, and changes nothing else for this type.
import { PROTOBUF_CONTENT_TYPE, ValidationError, type EcpsEvent } from '@ecps/core';

/** Most extensions one envelope may carry (the native writer has room for this many). */
export const MAX_EXTENSIONS = 64;
/** Extension that carries a non-default CloudEvents `datacontenttype` (the envelope has no field for it). */
const CONTENT_TYPE_EXTENSION = 'datacontenttype';

const XCDR1_LE = 0x01;
const XCDR2_LE = 0x07;

const malformed = (reason: string) => new ValidationError('DECODE_ERROR', `malformed ecps::dds::Envelope: ${reason}`);

const align4 = (n: number) => (n + 3) & ~3;

/** The extensions as they go on the wire: the event's, plus `datacontenttype` when it is not protobuf. */
function wireExtensions(event: EcpsEvent): Array<[string, string]> | undefined {
  const contentType = event.datacontenttype !== undefined && event.datacontenttype !== PROTOBUF_CONTENT_TYPE;
  if (!event.extensions && !contentType) return undefined;
  const entries = event.extensions ? Object.entries(event.extensions) : [];
  if (contentType) entries.push([CONTENT_TYPE_EXTENSION, event.datacontenttype!]);
  return entries;
}

/** Scratch space reused by {@link encodeEnvelopeView} for samples up to this size (larger ones get their own). */
const SCRATCH_LIMIT = 1 << 20;
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** A string's worst case on the wire: alignment, length, at most 3 UTF-8 bytes per UTF-16 unit, NUL. */
const stringBound = (s: string) => 3 + 4 + 3 * s.length + 1;

/** Strings up to this length are copied byte by byte when they are ASCII (cheaper than a native UTF-8 write). */
const SHORT_STRING = 64;

const noNul = () => new ValidationError('INVALID_ARGUMENT', 'envelope strings (attributes, extension names and values) may not contain NUL');

/** Zero bytes up to the next multiple of 4 from `base`; returns the new offset. */
function pad(out: Buffer, base: number, at: number): number {
  while ((at - base) & 3) out[at++] = 0;
  return at;
}

/** Writes `s` as a CDR string at `at` (aligned from `base`); returns the offset after it. */
function putString(out: Buffer, base: number, at: number, s: string): number {
  at = pad(out, base, at);
  const n = s.length;
  let len = n;
  let i = 0;
  if (n <= SHORT_STRING) {
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === 0 || c > 0x7f) break;
      out[at + 4 + i] = c;
    }
  }
  if (i < n) {
    if (s.includes('\0')) throw noNul();
    len = out.write(s, at + 4, 'utf8'); // room is guaranteed by the caller's bound
  }
  out.writeUInt32LE(len + 1, at);
  at += 4 + len;
  out[at++] = 0;
  return at;
}

function putU32(out: Buffer, base: number, at: number, v: number): number {
  at = pad(out, base, at);
  out.writeUInt32LE(v, at);
  return at + 4;
}

/** The extensions `event` carries on the wire, checked against {@link MAX_EXTENSIONS}. */
function checkedExtensions(event: EcpsEvent): Array<[string, string]> | undefined {
  const extensions = wireExtensions(event);
  if (extensions && extensions.length > MAX_EXTENSIONS) {
    throw new ValidationError('INVALID_ARGUMENT', `an envelope carries at most ${MAX_EXTENSIONS} extensions, not ${extensions.length}`);
  }
  return extensions;
}

/** Most bytes `event` takes as a sample (header included). */
function envelopeBound(event: EcpsEvent, extensions: Array<[string, string]> | undefined): number {
  let bound = 4 + stringBound(event.source) + stringBound(event.id) + stringBound(event.type) + stringBound(event.time ?? '') + 7 + 7 + event.data.length;
  if (extensions) for (const [k, v] of extensions) bound += stringBound(k) + stringBound(v);
  return bound;
}

/**
 * Encodes `event` as one XCDR1 sample of ecps::dds::Envelope into `out` from `at` on; returns the offset after it,
 * or -1 (having written nothing) when it might not fit before the end of `out`. An exception leaves garbage after
 * `at`, nothing else.
 * @throws ValidationError `INVALID_ARGUMENT` when it has more than {@link MAX_EXTENSIONS} extensions or a string
 *   contains NUL (neither fits the envelope).
 */
export function encodeEnvelopeInto(event: EcpsEvent, out: Buffer, at: number): number {
  const extensions = checkedExtensions(event);
  if (envelopeBound(event, extensions) > out.length - at) return -1;
  return put(event, extensions, out, at);
}

function put(event: EcpsEvent, extensions: Array<[string, string]> | undefined, out: Buffer, at: number): number {
  out.writeUInt32BE(XCDR1_LE << 16, at);
  const base = at + 4;
  at = putString(out, base, base, event.source);
  at = putString(out, base, at, event.id);
  at = putString(out, base, at, event.type);
  at = putString(out, base, at, event.time ?? '');
  at = putU32(out, base, at, extensions ? extensions.length : 0);
  if (extensions) {
    for (const [k, v] of extensions) {
      at = putString(out, base, at, k);
      at = putString(out, base, at, v);
    }
  }
  at = putU32(out, base, at, event.data.length);
  out.set(event.data, at);
  return at + event.data.length;
}

/**
 * Encodes `event` as one XCDR1 sample of ecps::dds::Envelope into shared scratch space and returns a view of it,
 * valid only until the next call: for handing straight to the native writer, which copies it.
 * @throws ValidationError `INVALID_ARGUMENT` as {@link encodeEnvelopeInto}.
 */
export function encodeEnvelopeView(event: EcpsEvent): Buffer {
  const extensions = checkedExtensions(event);
  const bound = envelopeBound(event, extensions);
  if (bound > scratch.length && bound <= SCRATCH_LIMIT) scratch = Buffer.allocUnsafeSlow(Math.max(bound, scratch.length * 2));
  const out = bound <= scratch.length ? scratch : Buffer.allocUnsafe(bound);
  return out.subarray(0, put(event, extensions, out, 0));
}

/**
 * Encodes `event` as one XCDR1 sample of ecps::dds::Envelope (a buffer of its own).
 * @throws ValidationError `INVALID_ARGUMENT` when it has more than {@link MAX_EXTENSIONS} extensions or a string
 *   contains NUL (neither fits the envelope).
 */
export function encodeEnvelope(event: EcpsEvent): Uint8Array {
  return Uint8Array.prototype.slice.call(encodeEnvelopeView(event));
}

let lastBuf: Buffer | undefined;
let lastView: Uint8Array | undefined;

/** `buf` as a plain Uint8Array (cached for the last buffer: a take's samples share one). */
function plainView(buf: Buffer): Uint8Array {
  if (buf !== lastBuf) {
    lastBuf = buf;
    lastView = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return lastView!;
}

/**
 * Copies of small payloads share 16 KiB ArrayBuffers handed out in order (like Buffer.allocUnsafe's pool): a new
 * ArrayBuffer per payload costs more than the payload's copy. A kept event holds at most one such block.
 */
const POOL_BYTES = 16 * 1024;
const POOLED_MAX = 2 * 1024;
let pool = new ArrayBuffer(POOL_BYTES);
let poolAt = 0;

/** A copy of `buf[start, start + n)` as a plain Uint8Array. */
function copyOf(buf: Buffer, start: number, n: number): Uint8Array {
  const from = plainView(buf);
  if (n > POOLED_MAX) return from.slice(start, start + n);
  if (poolAt + n > POOL_BYTES) {
    pool = new ArrayBuffer(POOL_BYTES);
    poolAt = 0;
  }
  const out = new Uint8Array(pool, poolAt, n);
  out.set(from.subarray(start, start + n));
  poolAt = (poolAt + n + 7) & ~7;
  return out;
}

/** The last source and type decoded (slots 0 and 1 of {@link CdrReader.string}). */
const recent = ['', ''];

/** Whether `buf[at, at + len)` is exactly the ASCII string `s` (non-ASCII bytes never match). */
function sameAscii(s: string, buf: Buffer, at: number, len: number): boolean {
  if (s.length !== len) return false;
  for (let i = 0; i < len; i++) {
    const b = buf[at + i]!;
    if (b > 0x7f || b !== s.charCodeAt(i)) return false;
  }
  return true;
}

/** Reads XCDR little-endian values from `buf` between `start` and `end` (one sample, header included). */
class CdrReader {
  readonly xcdr2: boolean;
  private at: number;
  private readonly base: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
    private readonly copyData: boolean,
  ) {
    if (end - start < 4 || buf[start] !== 0) throw malformed('not an XCDR sample');
    const kind = buf[start + 1];
    if (kind !== XCDR1_LE && kind !== XCDR2_LE) throw malformed(`unsupported encapsulation 0x${buf.readUInt16BE(start).toString(16)}`);
    this.xcdr2 = kind === XCDR2_LE;
    this.base = start + 4;
    this.at = this.base;
  }

  u32(): number {
    this.at = this.base + align4(this.at - this.base);
    if (this.at + 4 > this.end) throw malformed('truncated sample');
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  /** A CDR string; `slot` names a field whose last value is remembered (a stream repeats its source and type). */
  string(slot = -1): string {
    const n = this.u32();
    // exactly one NUL, the last byte: C peers end the string at the first one
    if (n === 0 || n > this.end - this.at || !this.onlyNulAtEnd(this.at, this.at + n - 1)) throw malformed('malformed string');
    let s: string;
    if (n === 1) s = '';
    else if (slot >= 0 && sameAscii(recent[slot]!, this.buf, this.at, n - 1)) s = recent[slot]!;
    else {
      s = this.buf.toString('utf8', this.at, this.at + n - 1);
      if (slot >= 0) recent[slot] = s;
    }
    this.at += n;
    return s;
  }

  /** Whether `buf[last]` is NUL and no byte in `[from, last)` is (a short scan in JavaScript beats a native call). */
  private onlyNulAtEnd(from: number, last: number): boolean {
    const buf = this.buf;
    if (buf[last] !== 0) return false;
    if (last - from > 64) return buf.indexOf(0, from) === last;
    for (let i = from; i < last; i++) if (buf[i] === 0) return false;
    return true;
  }

  /**
   * The bytes of a sequence<octet>: a view when they are most of the buffer (it is then theirs) and the caller
   * allows it, else a copy.
   */
  octets(): Uint8Array {
    const n = this.u32();
    if (n > this.end - this.at) throw malformed('truncated octet sequence');
    const start = this.at;
    this.at += n;
    if (!this.copyData && n * 2 >= this.buf.length) return this.buf.subarray(start, start + n);
    return copyOf(this.buf, start, n);
  }
}

/**
 * Decodes one ecps::dds::Envelope sample (`buf[start, end)`, encapsulation header included).
 * @throws ValidationError `DECODE_ERROR` for anything malformed: truncated, unsupported encapsulation, a string
 *   without its NUL, too many extensions.
 */
export function decodeEnvelope(buf: Buffer, start = 0, end = buf.length): EcpsEvent {
  return decodeEnvelopeFrom(buf, start, end, false);
}

/**
 * {@link decodeEnvelope}, with `copyData` true when `buf` is reused afterwards (the data then always gets a copy).
 * @throws ValidationError `DECODE_ERROR` as {@link decodeEnvelope}.
 */
export function decodeEnvelopeFrom(buf: Buffer, start: number, end: number, copyData: boolean): EcpsEvent {
  const r = new CdrReader(buf, start, end, copyData);
  const source = r.string(0);
  const id = r.string();
  const type = r.string(1);
  const time = r.string();
  if (r.xcdr2) r.u32(); // DHEADER of the KeyValue sequence
  const count = r.u32();
  if (count > MAX_EXTENSIONS) throw malformed(`${count} extensions (at most ${MAX_EXTENSIONS})`);
  let extensions: Record<string, string> | undefined;
  let datacontenttype = PROTOBUF_CONTENT_TYPE;
  for (let i = 0; i < count; i++) {
    const key = r.string();
    const value = r.string();
    if (key === CONTENT_TYPE_EXTENSION) datacontenttype = value;
    else (extensions ??= {})[key] = value;
  }
  const data = r.octets();
  const event: { -readonly [K in keyof EcpsEvent]: EcpsEvent[K] } = { id, source, type, datacontenttype, data };
  if (time) event.time = time;
  if (extensions) event.extensions = extensions;
  return event;
}
