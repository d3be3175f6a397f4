// SPDX-License-Identifier: Apache-2.0
// Per-record compression of native logs (spec §6.4): deflate (RFC 1950) through node:zlib; zstd (one frame, content
// size written, no checksum) through node:zlib where the runtime has it (Node >= 22.15), else through the optional
// @mongodb-js/zstd binding (prebuilt binaries in the npm package). Without either, zstd is UNSUPPORTED, never faked.
import * as zlib from 'node:zlib';
import { ValidationError } from '@ecps/core';
import type { Compression } from './format';

interface ZstdBackend {
  name: string;
  compress(data: Uint8Array): Promise<Uint8Array>;
  /** Only called once the frame's declared content size is known to be within the cap. */
  decompress(data: Uint8Array, size: number): Promise<Uint8Array>;
}

interface NodeZstd {
  zstdCompressSync(data: Uint8Array, options?: object): Buffer;
  zstdDecompressSync(data: Uint8Array, options?: object): Buffer;
  constants: Record<string, number>;
}

let backend: Promise<ZstdBackend | undefined> | undefined;

function zstdBackend(): Promise<ZstdBackend | undefined> {
  backend ??= (async (): Promise<ZstdBackend | undefined> => {
    const z = zlib as unknown as Partial<NodeZstd>;
    if (typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function') {
      const n = z as NodeZstd;
      const c = n.constants;
      return {
        name: 'node:zlib',
        compress: async (data) =>
          new Uint8Array(n.zstdCompressSync(data, { params: { [c.ZSTD_c_contentSizeFlag as number]: 1, [c.ZSTD_c_checksumFlag as number]: 0 }, pledgedSrcSize: data.length })),
        decompress: async (data, size) => new Uint8Array(n.zstdDecompressSync(data, { maxOutputLength: Math.max(size, 1) })),
      };
    }
    try {
      const binding = await import('@mongodb-js/zstd');
      const buf = (d: Uint8Array): Buffer => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      return {
        name: '@mongodb-js/zstd',
        // the binding's encoder leaves the content size out; the spec wants it in the frame header
        compress: async (data) => withContentSize(new Uint8Array(await binding.compress(buf(data), 3)), data.length),
        decompress: async (data) => new Uint8Array(await binding.decompress(buf(data))),
      };
    } catch {
      return undefined;
    }
  })();
  return backend;
}

/** Which zstd implementation this process uses, or undefined when zstd is unavailable. */
export async function zstdImplementation(): Promise<string | undefined> {
  return (await zstdBackend())?.name;
}

async function requireZstd(): Promise<ZstdBackend> {
  const found = await zstdBackend();
  if (!found) throw new ValidationError('UNSUPPORTED', 'zstd needs Node >= 22.15 or the optional @mongodb-js/zstd package; use deflate or none');
  return found;
}

const ZSTD_MAGIC = 0xfd2fb528;

/** Header facts of a single zstd frame: where the header ends and the declared content size (undefined if absent). */
function frameHeader(frame: Uint8Array): { fcsAt: number; fcsBytes: number; contentSize: bigint | undefined } {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < 6 || view.getUint32(0, true) !== ZSTD_MAGIC) throw new ValidationError('DECODE_ERROR', 'not a zstd frame');
  const fhd = frame[4] as number;
  const singleSegment = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3] as number;
  const fcsFlag = fhd >> 6;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : ([0, 2, 4, 8][fcsFlag] as number);
  const fcsAt = 5 + (singleSegment ? 0 : 1) + dictBytes;
  if (frame.length < fcsAt + fcsBytes) throw new ValidationError('DECODE_ERROR', 'truncated zstd frame header');
  let contentSize: bigint | undefined;
  if (fcsBytes === 1) contentSize = BigInt(frame[fcsAt] as number);
  else if (fcsBytes === 2) contentSize = BigInt(view.getUint16(fcsAt, true) + 256);
  else if (fcsBytes === 4) contentSize = BigInt(view.getUint32(fcsAt, true));
  else if (fcsBytes === 8) contentSize = view.getBigUint64(fcsAt, true);
  return { fcsAt, fcsBytes, contentSize };
}

/** Adds an 8-byte Frame_Content_Size to a frame that has none. */
function withContentSize(frame: Uint8Array, size: number): Uint8Array {
  const { fcsAt, fcsBytes } = frameHeader(frame);
  if (fcsBytes > 0) return frame;
  const out = new Uint8Array(frame.length + 8);
  out.set(frame.subarray(0, fcsAt));
  out[4] = (frame[4] as number) | 0xc0;
  new DataView(out.buffer).setBigUint64(fcsAt, BigInt(size), true);
  out.set(frame.subarray(fcsAt), fcsAt + 8);
  return out;
}

/** Compresses one record payload. Throws `UNSUPPORTED` for zstd without an implementation. */
export async function compress(codec: Compression, data: Uint8Array): Promise<Uint8Array> {
  if (codec !== 'zstd') return compressSync(codec, data);
  return (await requireZstd()).compress(data);
}

/** The synchronous codecs (none, deflate); `none` returns `data` itself. */
export function compressSync(codec: 'none' | 'deflate', data: Uint8Array): Uint8Array {
  return codec === 'none' ? data : new Uint8Array(zlib.deflateSync(data));
}

/**
 * Decompresses one record payload, never producing more than `maxOutput` bytes (bomb guard: zstd frames must declare
 * their content size, which is checked first). Throws `DECODE_ERROR` for bad input or oversized output.
 */
export async function decompress(codec: Compression, data: Uint8Array, maxOutput: number): Promise<Uint8Array> {
  if (codec !== 'zstd') return decompressSync(codec, data, maxOutput);
  const zstd = await requireZstd();
  const { contentSize } = frameHeader(data);
  if (contentSize === undefined) throw new ValidationError('DECODE_ERROR', 'zstd frame without a content size');
  if (contentSize > BigInt(maxOutput)) throw new ValidationError('DECODE_ERROR', `zstd frame declares ${contentSize} bytes, above the ${maxOutput}-byte cap`);
  let out: Uint8Array;
  try {
    out = await zstd.decompress(data, Number(contentSize));
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', `cannot zstd-decompress record: ${(cause as Error).message}`, { cause });
  }
  if (BigInt(out.length) !== contentSize) throw new ValidationError('DECODE_ERROR', 'zstd output differs from its declared size');
  return out;
}

/** The synchronous codecs (none, deflate). */
export function decompressSync(codec: 'none' | 'deflate', data: Uint8Array, maxOutput: number): Uint8Array {
  if (codec === 'none') return data;
  try {
    return new Uint8Array(zlib.inflateSync(data, { maxOutputLength: maxOutput }));
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', `cannot deflate-decompress record: ${(cause as Error).message}`, { cause });
  }
}
