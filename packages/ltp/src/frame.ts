// SPDX-License-Identifier: Apache-2.0
// One LTP DATA frame <-> one tensor (spec §4.4), with every receive check of spec §3.
import {
  LTP_DTYPES,
  SPEC_STRINGS,
  ValidationError,
  assertCompressionLevel,
  assertDtype,
  assertSpec,
  systemClock,
  tensorByteSize,
  type Clock,
  type LtpCodecName,
  type LtpDtype,
} from '@ecps/core';
import { LTP, type LTPFrameHeader } from '@ecps/proto';
import { DEFAULT_LEVELS, LTP_CODECS, compressPayloadParts, decompressPayload, type WhileDecoding } from './codecs';
import { copyWithCrc32, crc32, crc32Bytes } from './crc32';
import { serializeDataFrame } from './frame-bytes';
import { pythonFloatString } from './python-float';
import { concatParts } from './zstd-frames';
import { HOST_IS_LITTLE_ENDIAN, tensorFromBytes, tensorToBytes, type Tensor } from './tensor';

/** `header.message_type` values (spec §2). */
export const LTP_MESSAGE_TYPES = { data: 1, ack: 2, chunkStart: 3, chunkEnd: 4 } as const;

/** Default cap on a decoded tensor (spec §4.6: 256 MiB per decompressed tensor). */
export const DEFAULT_MAX_TENSOR_BYTES = 256 * 1024 * 1024;

export interface EncodeTensorOptions {
  /** Coordinate frame, e.g. `camera`. Default empty. */
  frameId?: string;
  /** Nanoseconds since the Unix epoch; default now (from `clock`). */
  timestampNs?: bigint;
  /** Default `zstd` (the only codec reference peers understand). */
  codec?: LtpCodecName;
  /** Default 3 for zstd, 6 for deflate, 0 for none. */
  level?: number;
  /** Goes into `header.sequence_number` (the per-sender tensor id of §4.5). Default 0. */
  tensorId?: number;
  /** Extra `attributes` (e.g. `mep_id`); `compression_ratio` and `tensor_elements` are always written. */
  attributes?: Readonly<Record<string, string>>;
  clock?: Clock;
}

export interface DecodeTensorOptions {
  /** Largest accepted decoded tensor in bytes (default 256 MiB). Larger declared sizes throw `FRAME_TOO_LARGE`. */
  maxTensorBytes?: number;
  /** Largest accepted payload (`tensor_zstd`) in bytes, e.g. the profile's `max_message_size`. Default unlimited. */
  maxPayloadBytes?: number;
}

/** A received tensor with the frame's metadata. */
export interface DecodedTensor {
  tensor: Tensor;
  frameId: string;
  timestampNs: bigint;
  codec: LtpCodecName;
  compressionLevel: number;
  /** `header.sequence_number` (0 from reference senders). */
  tensorId: number;
  attributes: Record<string, string>;
}

/** The tensor compressed and described, before it is framed as DATA or split into chunks. */
export interface CompressedTensor {
  payload: Uint8Array;
  dtype: LtpDtype;
  shape: number[];
  codec: LtpCodecName;
  level: number;
  originalSize: number;
  frameId: string;
  timestampNs: bigint;
}

/** Checks and resolves the codec and level an encoder was asked for. Throws `UNSUPPORTED` or `INVALID_COMPRESSION_LEVEL`. */
export function resolveCodec(codec: LtpCodecName = 'zstd', level?: number): { codec: LtpCodecName; level: number } {
  if (!LTP_CODECS.includes(codec)) throw new ValidationError('UNSUPPORTED', `unknown LTP codec ${JSON.stringify(codec)}`);
  const resolved = level ?? DEFAULT_LEVELS[codec];
  if (codec !== 'none' && resolved === 0) throw new ValidationError('INVALID_COMPRESSION_LEVEL', `${codec} needs a level`);
  assertCompressionLevel(codec, resolved);
  return { codec, level: resolved };
}

/** Compresses a tensor's wire bytes. Throws like {@link resolveCodec}. */
export async function compressTensor(tensor: Tensor, options: EncodeTensorOptions = {}): Promise<CompressedTensor> {
  const { parts, ...described } = await compressTensorParts(tensor, options);
  return { ...described, payload: concatParts(parts) };
}

/** {@link compressTensor} with the payload as pieces to be written one after another (see `compressPayloadParts`). */
async function compressTensorParts(tensor: Tensor, options: EncodeTensorOptions): Promise<Omit<CompressedTensor, 'payload'> & { parts: Uint8Array[] }> {
  const { codec, level } = resolveCodec(options.codec, options.level);
  assertDtype(tensor.dtype);
  const bytes = tensorToBytes(tensor);
  if (BigInt(bytes.length) !== tensorByteSize(tensor.shape, tensor.dtype)) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `tensor data does not match shape [${tensor.shape.join(', ')}]`);
  }
  return {
    parts: await compressPayloadParts(codec, bytes, level),
    dtype: tensor.dtype,
    shape: [...tensor.shape],
    codec,
    level,
    originalSize: bytes.length,
    frameId: options.frameId ?? '',
    timestampNs: options.timestampNs ?? (options.clock ?? systemClock).nowNs(),
  };
}

function elementsOf(shape: readonly number[]): string {
  return shape.reduce((n, d) => n * BigInt(d), 1n).toString();
}

/**
 * Builds the DATA frame of spec §4.4 around an already compressed tensor. `checksum` defaults to the payload's
 * CRC-32 (a serializer that computes it while copying passes a placeholder, and the payload's length when it copies
 * the payload from pieces of its own).
 */
export function dataFrame(
  c: CompressedTensor,
  tensorId = 0,
  attributes: Readonly<Record<string, string>> = {},
  checksum: Uint8Array = crc32Bytes(c.payload),
  payloadLength = c.payload.length,
): LTP {
  const metadata: Record<string, string> = { frame_id: c.frameId, dtype: c.dtype, timestamp: c.timestampNs.toString() };
  if (c.codec !== 'zstd') metadata['codec'] = c.codec;
  return {
    spec: SPEC_STRINGS.ltp,
    header: {
      version: 1,
      messageType: LTP_MESSAGE_TYPES.data,
      payloadLength,
      sequenceNumber: tensorId >>> 0,
      totalChunks: 0,
      chunkIndex: 0,
      checksum,
      metadata,
    },
    tensorZstd: c.payload,
    shape: c.shape,
    dtype: c.dtype,
    frameId: c.frameId,
    timestampNs: c.timestampNs,
    compressionLevel: c.level,
    originalSize: BigInt(c.originalSize),
    attributes: {
      ...attributes,
      compression_ratio: payloadLength === 0 ? '0' : pythonFloatString(c.originalSize / payloadLength),
      tensor_elements: elementsOf(c.shape),
    },
  };
}

/**
 * Encodes a tensor as one canonical LTP DATA message (spec §4.4): zstd level 3 by default, CRC-32 big-endian in
 * `header.checksum`, `compression_ratio` and `tensor_elements` attributes. Does not chunk: the caller (or
 * `createLtp`) decides whether the payload fits the frame size. Throws `UNSUPPORTED_DTYPE`, `TENSOR_SIZE_MISMATCH`,
 * `INVALID_COMPRESSION_LEVEL` or `UNSUPPORTED` (unknown codec).
 */
export async function encodeTensorFrame(tensor: Tensor, options: EncodeTensorOptions = {}): Promise<LTP> {
  return dataFrame(await compressTensor(tensor, options), options.tensorId ?? 0, options.attributes);
}

/** Reads `metadata["codec"]` (absent = zstd). Throws `UNSUPPORTED` for anything else. */
export function codecOf(metadata: Readonly<Record<string, string>> | undefined): LtpCodecName {
  const codec = metadata?.['codec'] ?? 'zstd';
  if (!(LTP_CODECS as readonly string[]).includes(codec)) {
    throw new ValidationError('UNSUPPORTED', `unsupported LTP codec ${JSON.stringify(codec)}`, { details: { codec } });
  }
  return codec as LtpCodecName;
}

/**
 * Header checks of spec §3 for one frame's payload: version 0/1 (`UNSUPPORTED_VERSION`), payload_length and a
 * 0- or 4-byte checksum that matches the CRC-32 (`CHECKSUM_MISMATCH`). With `copyTo` (at least `payload.length`
 * bytes), the payload is also copied there in the same pass over memory.
 */
export function verifyHeader(header: LTPFrameHeader | undefined, payload: Uint8Array, copyTo?: Uint8Array): void {
  const expected = checkHeaderFields(header, payload);
  if (expected === undefined) {
    if (copyTo) copyTo.set(payload);
    return;
  }
  verifyCrc32(expected, copyTo ? copyWithCrc32(payload, copyTo) : crc32(payload));
}

/** The header checks of {@link verifyHeader} but the CRC-32 itself; returns the CRC-32 the header declares, if any. */
function checkHeaderFields(header: LTPFrameHeader | undefined, payload: Uint8Array): number | undefined {
  if (!header) return undefined;
  if (header.version !== 0 && header.version !== 1) {
    throw new ValidationError('UNSUPPORTED_VERSION', `LTP header version ${header.version} is not supported`, { details: { version: header.version } });
  }
  if (header.payloadLength !== payload.length) {
    throw new ValidationError('CHECKSUM_MISMATCH', `payload_length ${header.payloadLength} but the payload has ${payload.length} bytes`);
  }
  const sum = header.checksum;
  if (sum.length === 0) return undefined;
  if (sum.length !== 4) throw new ValidationError('CHECKSUM_MISMATCH', `checksum must be 4 bytes, got ${sum.length}`);
  return ((sum[0]! << 24) | (sum[1]! << 16) | (sum[2]! << 8) | sum[3]!) >>> 0;
}

function verifyCrc32(expected: number, actual: number): void {
  if (expected !== actual) {
    throw new ValidationError('CHECKSUM_MISMATCH', `CRC-32 0x${actual.toString(16).padStart(8, '0')} does not match 0x${expected.toString(16).padStart(8, '0')}`, {
      details: { expected, actual },
    });
  }
}

export interface TensorDescription {
  dtype: string;
  shape: readonly number[];
  codec: LtpCodecName;
  level: number;
  originalSize: bigint;
}

/**
 * The tensor size rules of spec §3 before decompression: dtype, level, `prod(shape) × itemsize` = `original_size`
 * (0 = unstated), and the size cap. Returns the expected byte count.
 */
export function expectedTensorBytes(d: TensorDescription, maxTensorBytes = DEFAULT_MAX_TENSOR_BYTES): number {
  assertDtype(d.dtype);
  assertCompressionLevel(d.codec, d.level);
  const expected = tensorByteSize(d.shape, d.dtype);
  if (d.originalSize !== 0n && d.originalSize !== expected) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `original_size ${d.originalSize} but dtype ${d.dtype} shape [${d.shape.join(', ')}] is ${expected} bytes`, {
      details: { originalSize: d.originalSize.toString(), expected: expected.toString() },
    });
  }
  if (expected > BigInt(maxTensorBytes)) {
    throw new ValidationError('FRAME_TOO_LARGE', `tensor of ${expected} bytes exceeds the ${maxTensorBytes}-byte limit`, {
      details: { bytes: expected.toString(), limit: maxTensorBytes },
    });
  }
  return Number(expected);
}

/**
 * Decompresses and validates a payload into a tensor (shared by DATA frames and reassembled chunks). `whileDecoding`
 * as in `decompressPayload`.
 */
export async function decodePayload(d: TensorDescription, payload: Uint8Array, maxTensorBytes?: number, whileDecoding?: WhileDecoding): Promise<Tensor> {
  const expected = expectedTensorBytes(d, maxTensorBytes);
  const bytes = await decompressPayload(d.codec, payload, expected, whileDecoding);
  return tensorFromBytes(d.dtype, d.shape, bytes);
}

/**
 * Decodes and validates one LTP DATA message (spec §3, §4.4): spec string, header version, payload length and
 * CRC-32 (when a checksum is present), codec, dtype, level, sizes, and decompression capped at the expected size.
 * Throws `UNSUPPORTED_VERSION`, `CHECKSUM_MISMATCH`, `UNSUPPORTED`, `UNSUPPORTED_DTYPE`, `INVALID_COMPRESSION_LEVEL`,
 * `TENSOR_SIZE_MISMATCH`, `FRAME_TOO_LARGE` or `DECODE_ERROR` (corrupt payload, or a chunk header).
 */
export async function decodeTensorFrame(message: LTP, options: DecodeTensorOptions = {}): Promise<DecodedTensor> {
  assertSpec('ltp', message.spec);
  const header = message.header;
  if (header && header.messageType !== 0 && header.messageType !== LTP_MESSAGE_TYPES.data) {
    throw new ValidationError('DECODE_ERROR', `LTP message_type ${header.messageType} is not a DATA frame`);
  }
  if (header && header.totalChunks > 1) {
    throw new ValidationError('DECODE_ERROR', 'a chunked frame must travel as LTPChunk messages');
  }
  const payload = message.tensorZstd;
  if (options.maxPayloadBytes !== undefined && payload.length > options.maxPayloadBytes) {
    throw new ValidationError('FRAME_TOO_LARGE', `payload of ${payload.length} bytes exceeds ${options.maxPayloadBytes}`, {
      details: { bytes: payload.length, limit: options.maxPayloadBytes },
    });
  }
  // an uncompressed payload that is not aligned for its dtype (protobuf puts it at any offset) must be copied to
  // be viewed as a typed array: copy it while checking its CRC, into memory the copy fills completely
  const itemSize = (LTP_DTYPES as Record<string, number>)[message.dtype] ?? 1;
  const copy =
    header?.metadata?.['codec'] === 'none' &&
    payload.byteOffset % itemSize !== 0 &&
    payload.length <= (options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES) &&
    HOST_IS_LITTLE_ENDIAN
      ? new Uint8Array(Buffer.allocUnsafeSlow(payload.length).buffer, 0, payload.length)
      : undefined;
  let codec: LtpCodecName;
  let tensor: Tensor;
  if (copy) {
    verifyHeader(header, payload, copy);
    codec = codecOf(header?.metadata);
    tensor = await decodePayload(describe(message, codec), copy, options.maxTensorBytes);
  } else {
    // the CRC-32 is computed while a native zstd decoder runs on the thread pool (this thread would sit idle), and
    // still decides the error as if it ran first: a frame that fails it is refused with CHECKSUM_MISMATCH, whatever
    // else is wrong with it. The payload passed every size bound before any decoder sees it.
    const declared = checkHeaderFields(header, payload);
    let checked = declared === undefined;
    const checkCrc = () => {
      if (checked) return;
      checked = true;
      verifyCrc32(declared!, crc32(payload));
    };
    try {
      codec = codecOf(header?.metadata);
      tensor = await decodePayload(describe(message, codec), payload, options.maxTensorBytes, checkCrc);
    } catch (error) {
      checkCrc();
      throw error;
    }
  }
  return {
    tensor,
    frameId: message.frameId,
    timestampNs: message.timestampNs,
    codec,
    compressionLevel: message.compressionLevel,
    tensorId: header?.sequenceNumber ?? 0,
    attributes: { ...message.attributes },
  };
}

function describe(message: LTP, codec: LtpCodecName): TensorDescription {
  return { dtype: message.dtype, shape: message.shape, codec, level: message.compressionLevel, originalSize: message.originalSize };
}

/**
 * Parses protobuf bytes as an LTP message, mapping any wire-format fault to `DECODE_ERROR`.
 */
export function parseLtp(bytes: Uint8Array): LTP {
  try {
    return LTP.decode(bytes);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', `not an LTP message: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * {@link decodeTensorFrame} from protobuf bytes. An uncompressed tensor views `bytes` when its payload is aligned
 * for the dtype (copy the tensor before reusing `bytes`), else it is copied once while its CRC-32 is checked.
 * Throws {@link decodeTensorFrame}'s errors, and `DECODE_ERROR` for malformed protobuf.
 */
export async function decodeTensorFrameBytes(bytes: Uint8Array, options: DecodeTensorOptions = {}): Promise<DecodedTensor> {
  return decodeTensorFrame(parseLtp(bytes), options);
}

/**
 * {@link encodeTensorFrame} to protobuf bytes, in one allocation with the payload's CRC-32 computed while it is
 * copied. With codec `none` the frame carries an alignment pad (unknown field 2047, skipped by every decoder) that
 * puts the payload at an 8-byte offset, so {@link decodeTensorFrameBytes} on an aligned buffer views the tensor in
 * place. Throws like {@link encodeTensorFrame}.
 */
export async function encodeTensorFrameBytes(tensor: Tensor, options: EncodeTensorOptions = {}): Promise<Uint8Array> {
  const { parts, ...described } = await compressTensorParts(tensor, options);
  let payloadLength = 0;
  for (const part of parts) payloadLength += part.length;
  // the payload is copied into the message in pieces by the serializer: described here by its length only
  const frame = dataFrame({ ...described, payload: NO_PAYLOAD_YET }, options.tensorId ?? 0, options.attributes, NO_CHECKSUM_YET, payloadLength);
  // uncompressed payloads are aligned so that receivers can view them in place
  return serializeDataFrame(frame, parts, described.codec === 'none');
}

const NO_CHECKSUM_YET = new Uint8Array(4);
const NO_PAYLOAD_YET = new Uint8Array(0);
