// SPDX-License-Identifier: Apache-2.0
// Per-record compression of native logs (spec §6.4): deflate (RFC 1950) through node:zlib, zstd through node:zlib
// where the running Node has it (22.15+). On Node 20 zstd is reported as unsupported rather than faked.
import * as zlib from 'node:zlib';
import { ValidationError } from '@ecps/core';
import type { Compression } from './format';

interface ZstdZlib {
  zstdCompressSync?: (data: Uint8Array, options?: { pledgedSrcSize?: number }) => Buffer;
  zstdDecompressSync?: (data: Uint8Array, options?: { maxOutputLength?: number }) => Buffer;
}
const z = zlib as unknown as ZstdZlib;

/** Whether this runtime can read and write zstd-compressed logs. */
export function zstdAvailable(): boolean {
  return typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function';
}

function requireZstd(): Required<ZstdZlib> {
  if (!zstdAvailable()) {
    throw new ValidationError('UNSUPPORTED', 'zstd compression needs Node >= 22.15 (node:zlib zstd); use deflate or none');
  }
  return z as Required<ZstdZlib>;
}

/** Compresses one record payload. Throws `UNSUPPORTED` for zstd on a runtime without it. */
export function compress(codec: Compression, data: Uint8Array): Uint8Array {
  if (codec === 'none') return data;
  if (codec === 'deflate') return new Uint8Array(zlib.deflateSync(data));
  return new Uint8Array(requireZstd().zstdCompressSync(data, { pledgedSrcSize: data.length }));
}

/**
 * Decompresses one record payload, never producing more than `maxOutput` bytes (bomb guard).
 * Throws `DECODE_ERROR` for bad input or oversized output, `UNSUPPORTED` for zstd without support.
 */
export function decompress(codec: Compression, data: Uint8Array, maxOutput: number): Uint8Array {
  if (codec === 'none') return data;
  try {
    if (codec === 'deflate') return new Uint8Array(zlib.inflateSync(data, { maxOutputLength: maxOutput }));
    return new Uint8Array(requireZstd().zstdDecompressSync(data, { maxOutputLength: maxOutput }));
  } catch (cause) {
    if (cause instanceof ValidationError) throw cause;
    throw new ValidationError('DECODE_ERROR', `cannot ${codec}-decompress record: ${(cause as Error).message}`, { cause });
  }
}
