// SPDX-License-Identifier: Apache-2.0
// Splitting a compressed tensor into LTPChunk messages exactly as spec §4.5 fixes it, and reading a chunk's
// metadata back (ours and the reference SDK's).
import { ValidationError, type LtpCodecName } from '@ecps/core';
import type { LTPChunk } from '@ecps/proto';
import { crc32Bytes } from './crc32';
import { LTP_MESSAGE_TYPES, codecOf, type CompressedTensor } from './frame';

/** Room left in every chunk for the envelope (spec §4.5: chunk payload = max_chunk_size − 1024). */
export const CHUNK_HEADROOM_BYTES = 1024;
/** Default `max_chunk_size`: 1 MiB (capped by the profile's `max_message_size`). */
export const DEFAULT_MAX_CHUNK_SIZE = 1024 * 1024;

/** Python tuple repr of a shape: `(10, 1024, 1024)`, `(512,)`, `()`. */
export function formatShapeTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

const SHAPE_RE = /^[([]\s*((?:\d+\s*,\s*)*\d+\s*,?)?\s*[)\]]$/;

/**
 * Parses a shape string: `(`/`[`, decimal integers separated by `,` with optional spaces, an optional trailing
 * comma, `)`/`]`. Throws `DECODE_ERROR` for anything else (including dimensions above 2^32 − 1).
 */
export function parseShapeTuple(text: string): number[] {
  const match = SHAPE_RE.exec(text);
  if (!match || (text[0] === '(' && text.at(-1) !== ')') || (text[0] === '[' && text.at(-1) !== ']')) {
    throw new ValidationError('DECODE_ERROR', `malformed shape ${JSON.stringify(text)}`);
  }
  if (match[1] === undefined) return [];
  return match[1]
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const dim = Number(part);
      if (!Number.isSafeInteger(dim) || dim > 0xffffffff) throw new ValidationError('DECODE_ERROR', `shape dimension ${part} out of range`);
      return dim;
    });
}

/** Chunk payload size for a `max_chunk_size`. Throws `INVALID_ARGUMENT` if no room is left. */
export function chunkPayloadSize(maxChunkSize: number): number {
  const cs = maxChunkSize - CHUNK_HEADROOM_BYTES;
  if (!Number.isInteger(maxChunkSize) || cs < 1) {
    throw new ValidationError('INVALID_ARGUMENT', `max_chunk_size ${maxChunkSize} leaves no room for chunk data`);
  }
  return cs;
}

/**
 * Splits a compressed tensor into the chunks of spec §4.5: `n = ceil(len / cs)` (at least 2), message types
 * 3 / 1 / 4, one tensor id in every `sequence_number`, CRC-32 per chunk, and the metadata keys including `shape`
 * as a Python tuple and `codec` (always). Throws `INVALID_ARGUMENT` if the payload fits one frame.
 */
export function splitIntoChunks(c: CompressedTensor, tensorId: number, maxChunkSize = DEFAULT_MAX_CHUNK_SIZE): LTPChunk[] {
  const cs = chunkPayloadSize(maxChunkSize);
  const length = c.payload.length;
  if (length <= maxChunkSize) {
    throw new ValidationError('INVALID_ARGUMENT', `a ${length}-byte payload fits one DATA frame (max_chunk_size ${maxChunkSize})`);
  }
  const n = Math.ceil(length / cs);
  const metadata: Record<string, string> = {
    frame_id: c.frameId,
    dtype: c.dtype,
    shape: formatShapeTuple(c.shape),
    timestamp_ns: c.timestampNs.toString(),
    original_size: String(c.originalSize),
    compression_level: String(c.level),
    codec: c.codec,
  };
  const chunks: LTPChunk[] = [];
  for (let i = 0; i < n; i++) {
    const data = c.payload.subarray(i * cs, Math.min((i + 1) * cs, length));
    chunks.push({
      header: {
        version: 1,
        messageType: i === 0 ? LTP_MESSAGE_TYPES.chunkStart : i === n - 1 ? LTP_MESSAGE_TYPES.chunkEnd : LTP_MESSAGE_TYPES.data,
        payloadLength: data.length,
        sequenceNumber: tensorId >>> 0,
        totalChunks: n,
        chunkIndex: i,
        checksum: crc32Bytes(data),
        metadata: { ...metadata },
      },
      chunkData: data,
      isFinal: i === n - 1,
    });
  }
  return chunks;
}

/** What the first accepted chunk of a tensor fixes (spec §4.6). */
export interface ChunkDescription {
  /** True for our chunks (metadata has `codec`), keyed by tensor id; false for reference-SDK chunks. */
  ours: boolean;
  frameId: string;
  dtype: string;
  shape: number[];
  timestampNs: string;
  originalSize: bigint;
  level: number;
  codec: LtpCodecName;
  totalChunks: number;
}

function decimal(value: string | undefined, key: string, fallback?: string): string {
  const text = value ?? fallback;
  if (text === undefined || !/^(0|[1-9]\d*)$/.test(text)) throw new ValidationError('DECODE_ERROR', `chunk metadata ${key}=${JSON.stringify(value)} is not a decimal`);
  return text;
}

/** Reads a chunk's metadata. Throws `DECODE_ERROR` (or `UNSUPPORTED` for an unknown codec) when it is unusable. */
export function describeChunk(chunk: LTPChunk): ChunkDescription {
  const header = chunk.header;
  if (!header) throw new ValidationError('DECODE_ERROR', 'LTPChunk without a header');
  const m = header.metadata;
  const ours = Object.hasOwn(m, 'codec');
  return {
    ours,
    frameId: m['frame_id'] ?? '',
    dtype: m['dtype'] ?? '',
    shape: parseShapeTuple(m['shape'] ?? ''),
    timestampNs: decimal(m['timestamp_ns'] ?? m['timestamp'], 'timestamp_ns'),
    originalSize: BigInt(decimal(m['original_size'], 'original_size', '0')),
    level: Number(decimal(m['compression_level'], 'compression_level', '0')),
    codec: codecOf(m),
    totalChunks: header.totalChunks,
  };
}

/** True when two chunks describe the same tensor (everything but the timestamp, which starts a new tensor). */
export function sameTensor(a: ChunkDescription, b: ChunkDescription): boolean {
  return (
    a.frameId === b.frameId &&
    a.dtype === b.dtype &&
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i]) &&
    a.originalSize === b.originalSize &&
    a.level === b.level &&
    a.codec === b.codec &&
    a.totalChunks === b.totalChunks
  );
}
