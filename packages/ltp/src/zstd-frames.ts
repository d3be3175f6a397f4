// SPDX-License-Identifier: Apache-2.0
// A structural walk over zstd frames (RFC 8878) that never decompresses: it finds each frame's declared content
// size and window, and bounds the output before any decoder allocates. Hostile input fails here, cheaply.
import { ValidationError, concatBytes } from '@ecps/core';

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;
/** Largest window we let a decoder allocate (zstd's own default decoding limit, 2^27). */
export const MAX_WINDOW_BYTES = 2 ** 27;

export interface ZstdFrameInfo {
  /** Byte offset of the frame in the input. */
  offset: number;
  /** Byte offset of the first block, just after the header. */
  headerEnd: number;
  /** Declared Frame_Content_Size, if written. */
  contentSize?: number;
  windowSize: number;
  /** Upper bound on what the frame can decode to (the content size if declared). */
  maxOutput: number;
  /** Byte offset just past the frame. */
  end: number;
  /** The Content_Checksum (low 32 bits of the content's XXH64), when the frame carries one. */
  checksum?: number;
}

function corrupt(message: string, offset: number): ValidationError {
  return new ValidationError('DECODE_ERROR', `malformed zstd payload: ${message}`, { details: { offset } });
}

function readLe(data: Uint8Array, at: number, size: number): number {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 256 + data[at + i]!;
  return value;
}

/**
 * Walks all frames of `data` (zstd frames and skippable frames, concatenated). Throws `DECODE_ERROR` on any
 * structural fault: bad magic, reserved bits, a dictionary id, truncation, an oversized window or block.
 */
export function walkZstdFrames(data: Uint8Array): ZstdFrameInfo[] {
  const frames: ZstdFrameInfo[] = [];
  let pos = 0;
  if (data.length === 0) throw corrupt('empty payload', 0);
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt('truncated magic number', pos);
    const magic = readLe(data, pos, 4);
    if (magic >>> 4 === 0x184d2a5) {
      if (data.length - pos < 8) throw corrupt('truncated skippable frame', pos);
      const size = readLe(data, pos + 4, 4);
      if (size > data.length - pos - 8) throw corrupt('truncated skippable frame', pos);
      pos += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt('bad magic number', pos);
    const start = pos;
    let p = pos + 4;
    const fhd = data[p++];
    if (fhd === undefined) throw corrupt('truncated frame header', start);
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd >> 5) & 1;
    const hasChecksum = (fhd >> 2) & 1;
    const dictFlag = fhd & 3;
    if (fhd & 0x08) throw corrupt('reserved bit set', start);
    const windowDescriptor = singleSegment ? undefined : data[p++];
    const dictBytes = dictFlag === 3 ? 4 : dictFlag;
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    if (p + dictBytes + fcsBytes > data.length) throw corrupt('truncated frame header', start);
    if (dictBytes > 0 && readLe(data, p, dictBytes) !== 0) throw corrupt('dictionaries are not supported', start);
    p += dictBytes;
    let contentSize: number | undefined;
    if (fcsBytes > 0) contentSize = readLe(data, p, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
    p += fcsBytes;
    let windowSize: number;
    if (windowDescriptor === undefined) {
      windowSize = contentSize ?? 0;
    } else {
      const base = 2 ** (10 + (windowDescriptor >> 3));
      windowSize = base + (base / 8) * (windowDescriptor & 7);
    }
    if (windowSize > MAX_WINDOW_BYTES) throw corrupt(`window of ${windowSize} bytes exceeds ${MAX_WINDOW_BYTES}`, start);
    const headerEnd = p;
    const blockMax = Math.min(BLOCK_MAX, Math.max(windowSize, 1));
    let bound = 0;
    for (;;) {
      if (p + 3 > data.length) throw corrupt('truncated block header', p);
      const header = data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16);
      p += 3;
      const last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw corrupt('reserved block type', p - 3);
      if (size > blockMax) throw corrupt('block larger than allowed', p - 3);
      const stored = type === 1 ? 1 : size;
      if (p + stored > data.length) throw corrupt('truncated block', p);
      p += stored;
      bound += type === 2 ? blockMax : size;
      if (last) break;
    }
    let checksum: number | undefined;
    if (hasChecksum) {
      if (p + 4 > data.length) throw corrupt('truncated checksum', p);
      checksum = readLe(data, p, 4);
      p += 4;
    }
    if (contentSize !== undefined && contentSize > bound) throw corrupt('content size larger than its blocks can hold', start);
    frames.push({
      offset: start,
      headerEnd,
      ...(contentSize === undefined ? {} : { contentSize }),
      windowSize,
      maxOutput: contentSize ?? bound,
      end: p,
      ...(checksum === undefined ? {} : { checksum }),
    });
    pos = p;
  }
  if (frames.length === 0) throw corrupt('no zstd frame', 0);
  return frames;
}

/**
 * Writes a Frame_Content_Size field into a single frame that lacks one (RFC 8878 §3.1.1.1.4). The header fields
 * are independent of the block data, so the frame stays valid and decoders then verify the size. When the content
 * fits the window the frame becomes single-segment (no window descriptor), as libzstd's one-shot API writes it.
 * Returns the result as pieces to be written one after another: the rewritten header and views of `frame` (or
 * `[frame]` when it already declares its size), so the compressed blocks are never copied to add a few bytes.
 */
export function withContentSizeParts(frame: Uint8Array, contentSize: number): Uint8Array[] {
  const [info] = walkZstdFrames(frame);
  if (!info || info.contentSize !== undefined) return [frame];
  const start = info.offset;
  const fhd = frame[start + 4]!;
  const dictBytes = info.headerEnd - start - 6;
  const single = contentSize <= info.windowSize;
  const flag = contentSize < 256 && single ? 0 : contentSize >= 256 && contentSize < 65_536 + 256 ? 1 : contentSize < 2 ** 32 ? 2 : 3;
  const size = flag === 0 ? 1 : 1 << flag;
  let rest = flag === 1 ? contentSize - 256 : contentSize;
  const head: number[] = [...frame.subarray(start, start + 4), (fhd & 0x1f) | (flag << 6) | (single ? 0x20 : 0)];
  if (!single) head.push(frame[start + 5]!);
  head.push(...frame.subarray(start + 6, start + 6 + dictBytes));
  for (let i = 0; i < size; i++) {
    head.push(rest % 256);
    rest = Math.floor(rest / 256);
  }
  const parts = [Uint8Array.from(head), frame.subarray(info.headerEnd)];
  return start > 0 ? [frame.subarray(0, start), ...parts] : parts;
}

/** The concatenation of `parts` (the only part itself, without a copy). */
export function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}
