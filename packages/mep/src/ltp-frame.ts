// SPDX-License-Identifier: Apache-2.0
// What MEP needs from a single LTP DATA frame (spec §3, §4.4): decode and validate a received tensor, and build a
// fresh result frame. Internal and deliberately small: it is replaced by @ecps/ltp's encode/decode once that exists.
import { crc32, inflateSync } from 'node:zlib';
import {
  LTP_DTYPES,
  SPEC_STRINGS,
  ValidationError,
  assertCompressionLevel,
  assertDtype,
  assertSpec,
  tensorByteSize,
  type LtpCodecName,
  type LtpDtype,
} from '@ecps/core';
import type { LTP } from '@ecps/proto';
import { Decompress as ZstdDecompress } from 'fzstd';

/** A tensor as MEP keeps it: raw little-endian C-order bytes plus dtype and shape. */
export interface RawTensor {
  readonly bytes: Uint8Array;
  readonly dtype: LtpDtype;
  readonly shape: readonly number[];
}

/**
 * Decodes and validates the tensor of an LTP DATA frame (spec §3): spec string, dtype, compression level, header
 * payload length and CRC-32 (when present), and the decompressed size against shape × itemsize and `original_size`.
 * Decompression never produces more than the expected size (bomb guard). Throws a {@link ValidationError}.
 */
export function decodeTensorFrame(frame: LTP): RawTensor {
  assertSpec('ltp', frame.spec);
  assertDtype(frame.dtype);
  const header = frame.header;
  if (header && header.version !== 0 && header.version !== 1) {
    throw new ValidationError('UNSUPPORTED_VERSION', `LTP header version ${header.version} is not supported`);
  }
  const codecName = header?.metadata['codec'] ?? 'zstd';
  if (codecName !== 'zstd' && codecName !== 'deflate' && codecName !== 'none') {
    throw new ValidationError('DECODE_ERROR', `unknown LTP codec ${JSON.stringify(codecName)}`);
  }
  const codec: LtpCodecName = codecName;
  assertCompressionLevel(codec, frame.compressionLevel);
  const payload = frame.tensorZstd;
  if (header) {
    if (header.payloadLength !== 0 && header.payloadLength !== payload.length) {
      throw new ValidationError('CHECKSUM_MISMATCH', `payload_length ${header.payloadLength} != ${payload.length}`);
    }
    if (header.checksum.length !== 0) {
      if (header.checksum.length !== 4) throw new ValidationError('CHECKSUM_MISMATCH', 'checksum must be 4 bytes');
      const expected = new DataView(header.checksum.buffer, header.checksum.byteOffset, 4).getUint32(0, false);
      if (crc32(payload) >>> 0 !== expected) throw new ValidationError('CHECKSUM_MISMATCH', 'CRC-32 of the payload does not match');
    }
  }
  const expectedSize = tensorByteSize(frame.shape, frame.dtype);
  if (frame.originalSize !== 0n && frame.originalSize !== expectedSize) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `original_size ${frame.originalSize} != prod(shape) × itemsize ${expectedSize}`);
  }
  if (expectedSize > BigInt(2 ** 31 - 1)) throw new ValidationError('TENSOR_SIZE_MISMATCH', `tensor of ${expectedSize} bytes is too large`);
  const size = Number(expectedSize);
  const bytes = decompressPayload(codec, payload, size);
  if (bytes.length !== size) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `decompressed ${bytes.length} bytes, expected ${size}`);
  }
  return { bytes, dtype: frame.dtype, shape: [...frame.shape] };
}

function decompressPayload(codec: LtpCodecName, payload: Uint8Array, size: number): Uint8Array {
  try {
    if (codec === 'none') return payload;
    if (codec === 'deflate') return new Uint8Array(inflateSync(payload, { maxOutputLength: Math.max(1, size) + 1 }));
    if (payload.length === 0) return payload;
    return zstdBounded(payload, size);
  } catch (cause) {
    if (cause instanceof ValidationError) throw cause;
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `cannot decompress the ${codec} payload within ${size} bytes`, { cause });
  }
}

/** Streams zstd output and stops as soon as it would exceed `size` + 1 bytes (bomb guard). */
function zstdBounded(payload: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size + 1);
  let written = 0;
  const stream = new ZstdDecompress((chunk) => {
    if (written + chunk.length > out.length) {
      throw new ValidationError('TENSOR_SIZE_MISMATCH', `zstd payload expands beyond the expected ${size} bytes`);
    }
    out.set(chunk, written);
    written += chunk.length;
  });
  stream.push(payload, true);
  return out.subarray(0, written);
}

/** Largest zstd raw block (128 KiB). */
const ZSTD_BLOCK_MAX = 128 * 1024;

/**
 * Wraps bytes in a valid zstd frame made of raw (stored) blocks, with the content size written and no checksum.
 * Any zstd decoder (the reference SDK's included) reads it; it trades ratio for zero CPU on the query path.
 */
export function zstdStoredFrame(bytes: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(bytes.length / ZSTD_BLOCK_MAX));
  const out = new Uint8Array(4 + 1 + 8 + blocks * 3 + bytes.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xfd2fb528, true);
  out[4] = 0xe0; // FHD: 8-byte content size, single segment, no checksum, no dictionary
  view.setBigUint64(5, BigInt(bytes.length), true);
  let pos = 13;
  for (let b = 0; b < blocks; b++) {
    const chunk = bytes.subarray(b * ZSTD_BLOCK_MAX, Math.min(bytes.length, (b + 1) * ZSTD_BLOCK_MAX));
    const last = b === blocks - 1 ? 1 : 0;
    const headerValue = (chunk.length << 3) | last; // block type 0 = raw
    out[pos] = headerValue & 0xff;
    out[pos + 1] = (headerValue >>> 8) & 0xff;
    out[pos + 2] = (headerValue >>> 16) & 0xff;
    out.set(chunk, pos + 3);
    pos += 3 + chunk.length;
  }
  return out;
}

/** Python `repr(float)`: shortest round-trip digits, `.0` on integral values, exponent outside [1e-4, 1e16). */
export function formatPythonFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa = '', expText = '0'] = value.toExponential().split('e');
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const fracPart = digits.slice(exp + 1);
  return `${sign}${intPart}.${fracPart === '' ? '0' : fracPart}`;
}

export interface ResultFrameInit {
  tensor: RawTensor;
  frameId: string;
  timestampNs: bigint;
  attributes: Record<string, string>;
}

/** A fresh single DATA frame (spec §4.4) carrying a stored tensor, zstd-framed, CRC-32 set. */
export function encodeTensorFrame(init: ResultFrameInit): LTP {
  const payload = zstdStoredFrame(init.tensor.bytes);
  const checksum = new Uint8Array(4);
  new DataView(checksum.buffer).setUint32(0, crc32(payload) >>> 0, false);
  const elements = init.tensor.shape.reduce((a, b) => a * b, 1);
  return {
    spec: SPEC_STRINGS.ltp,
    header: {
      version: 1,
      messageType: 1,
      payloadLength: payload.length,
      sequenceNumber: 0,
      totalChunks: 0,
      chunkIndex: 0,
      checksum,
      metadata: { frame_id: init.frameId, dtype: init.tensor.dtype, timestamp: init.timestampNs.toString() },
    },
    tensorZstd: payload,
    shape: [...init.tensor.shape],
    dtype: init.tensor.dtype,
    frameId: init.frameId,
    timestampNs: init.timestampNs,
    compressionLevel: 0, // stored blocks: no zstd level applies ("unstated", spec §3)
    originalSize: BigInt(init.tensor.bytes.length),
    attributes: {
      compression_ratio: payload.length === 0 ? '0' : formatPythonFloat(init.tensor.bytes.length / payload.length),
      tensor_elements: String(elements),
      ...init.attributes,
    },
  };
}

/** Item size of a dtype in bytes. */
export function itemSize(dtype: LtpDtype): number {
  return LTP_DTYPES[dtype];
}
