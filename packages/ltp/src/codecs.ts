// SPDX-License-Identifier: Apache-2.0
// The three payload codecs of spec §4.2. zstd: node:zlib where the runtime has it (Node >= 22.15), else the
// @mongodb-js/zstd binding (prebuilt binaries shipped in the npm package); frames it cannot bound up front are
// decoded by the pure-JS fzstd under an output cap. Content checksums, when a frame has one, are verified here with
// XXH64 (xxhash-wasm), whichever decoder ran. deflate: node:zlib's own zlib (a zlib stream, RFC 1950; native, and
// able to stop inflating at an output cap). none: raw bytes.
import * as zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import loadXxhash, { type XXHashAPI } from 'xxhash-wasm';
import { ValidationError, type LtpCodecName } from '@ecps/core';
import { concatParts, walkZstdFrames, withContentSizeParts, type ZstdFrameInfo } from './zstd-frames';

/** Default levels: zstd 3 (the reference SDK), deflate 6 (zlib's default), none 0. */
export const DEFAULT_LEVELS: Readonly<Record<LtpCodecName, number>> = { zstd: 3, deflate: 6, none: 0 };

export const LTP_CODECS: readonly LtpCodecName[] = ['zstd', 'deflate', 'none'];

/** @internal A native zstd implementation (exported for the tests of the checksum path). */
export interface ZstdBackend {
  readonly name: string;
  /** One zstd frame, with or without its content size (the caller adds it when missing). */
  compress(data: Uint8Array, level: number): Promise<Uint8Array>;
  /** Only called for frames whose declared content sizes sum to `expected`. */
  decompress(data: Uint8Array, expected: number): Promise<Uint8Array>;
}

/** @internal The zstd surface of `node:zlib` (Node >= 22.15). */
export type NodeZstd = {
  zstdCompress(data: Uint8Array, options: object, cb: (err: Error | null, out: Buffer) => void): void;
  zstdDecompress(data: Uint8Array, options: object, cb: (err: Error | null, out: Buffer) => void): void;
  constants: Record<string, number>;
};

/** @internal */
export function nodeZlibBackend(z: NodeZstd): ZstdBackend {
  const c = z.constants;
  const call = (fn: NodeZstd['zstdCompress'], data: Uint8Array, options: object) =>
    new Promise<Uint8Array>((resolve, reject) => fn.call(z, data, options, (err, out) => (err ? reject(err) : resolve(out))));
  return {
    name: 'node:zlib',
    compress: (data, level) =>
      call(z.zstdCompress, data, {
        params: { [c.ZSTD_c_compressionLevel!]: level, [c.ZSTD_c_checksumFlag!]: 0, [c.ZSTD_c_contentSizeFlag!]: 1 },
        pledgedSrcSize: data.length,
      }),
    decompress: (data, expected) => call(z.zstdDecompress, data, { maxOutputLength: Math.max(expected, 1) }),
  };
}

async function bindingBackend(): Promise<ZstdBackend> {
  // the native functions: the package's index.js wrapper drops the level argument (every frame came out at level 3).
  // `bindings.js` is a published file of the package, which has no `exports` map (the range is pinned to 1.2.x for it).
  const binding = await import('@mongodb-js/zstd/bindings.js');
  const toBuffer = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return {
    name: '@mongodb-js/zstd',
    // the binding's streaming encoder does not write the content size the spec requires: compressPayloadParts adds it
    compress: (data, level) => binding.compress(toBuffer(data), level),
    decompress: (data) => binding.decompress(toBuffer(data)),
  };
}

let backend: Promise<ZstdBackend | undefined> | undefined;

function zstdBackend(): Promise<ZstdBackend | undefined> {
  backend ??= (async () => {
    const z = zlib as unknown as Partial<NodeZstd>;
    if (typeof z.zstdCompress === 'function' && typeof z.zstdDecompress === 'function') return nodeZlibBackend(z as NodeZstd);
    try {
      return await bindingBackend();
    } catch {
      return undefined;
    }
  })();
  return backend;
}

// `>>>` would wrap above 2^32 bytes
const shr = (value: number, bits: number) => Math.floor(value / 2 ** bits);

/** Framing slack on top of the codecs' worst-case bounds (several zstd frames, skippable frames, zlib trailers). */
const FRAMING_SLACK_BYTES = 4096;

/**
 * The largest payload `codec` can legitimately produce for `rawBytes` of tensor data: libzstd's and zlib's
 * worst-case compress bounds plus framing slack, exactly `rawBytes` for `none`. Receivers refuse anything larger
 * before buffering it.
 */
export function maxPayloadBytes(codec: LtpCodecName, rawBytes: number): number {
  switch (codec) {
    case 'none':
      return rawBytes;
    case 'deflate':
      return rawBytes + shr(rawBytes, 12) + shr(rawBytes, 14) + shr(rawBytes, 25) + 13 + FRAMING_SLACK_BYTES;
    case 'zstd': {
      const block = 128 * 1024;
      return rawBytes + shr(rawBytes, 8) + (rawBytes < block ? shr(block - rawBytes, 11) : 0) + FRAMING_SLACK_BYTES;
    }
  }
}

/** Which zstd implementation this process uses (`node:zlib`, `@mongodb-js/zstd`, or `fzstd` for decoding only). */
export async function zstdImplementation(): Promise<string> {
  return (await zstdBackend())?.name ?? 'fzstd';
}

function sizeMismatch(expected: number, actual: string): ValidationError {
  return new ValidationError('TENSOR_SIZE_MISMATCH', `payload decompresses to ${actual} bytes, expected ${expected}`, {
    details: { expected, actual },
  });
}

/** Collects streamed output into a buffer of exactly `expected` bytes; throws as soon as more arrives. */
function cappedSink(expected: number) {
  const out = new Uint8Array(expected);
  let length = 0;
  return {
    push(chunk: Uint8Array) {
      if (length + chunk.length > expected) throw sizeMismatch(expected, `more than ${expected}`);
      out.set(chunk, length);
      length += chunk.length;
    },
    get length() {
      return length;
    },
    result() {
      if (length !== expected) throw sizeMismatch(expected, String(length));
      return out;
    },
  };
}

function decodeFailure(codec: LtpCodecName, cause: unknown): ValidationError {
  if (cause instanceof ValidationError) return cause;
  return new ValidationError('DECODE_ERROR', `${codec} payload is corrupt: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}

/**
 * zstd decoding in pure JS, frame by frame and block by block so the output never exceeds `expected`. Returns the
 * output and where each frame's content ends in it.
 */
function fzstdFrames(data: Uint8Array, frames: readonly ZstdFrameInfo[], expected: number): { out: Uint8Array; ends: number[] } {
  const sink = cappedSink(expected);
  const ends: number[] = [];
  try {
    for (const frame of frames) {
      const stream = new FzstdDecompress((chunk) => sink.push(chunk));
      stream.push(data.subarray(frame.offset, frame.end), true);
      ends.push(sink.length);
    }
  } catch (cause) {
    throw decodeFailure('zstd', cause);
  }
  return { out: sink.result(), ends };
}

let xxhash: Promise<XXHashAPI> | undefined;

/** Checks every frame's Content_Checksum (low 32 bits of XXH64, seed 0) against its slice of `out`. */
async function verifyContentChecksums(frames: readonly ZstdFrameInfo[], ends: readonly number[], out: Uint8Array): Promise<void> {
  const api = await (xxhash ??= loadXxhash());
  let start = 0;
  for (let i = 0; i < frames.length; i++) {
    const stored = frames[i]!.checksum;
    const end = ends[i]!;
    if (stored !== undefined) {
      const actual = Number(api.h64Raw(out.subarray(start, end), 0n) & 0xffffffffn);
      if (actual !== stored) {
        throw new ValidationError('CHECKSUM_MISMATCH', `zstd content checksum 0x${actual.toString(16).padStart(8, '0')} does not match 0x${stored.toString(16).padStart(8, '0')}`, {
          details: { frame: i, offset: frames[i]!.offset, expected: stored, actual },
        });
      }
    }
    start = end;
  }
}

/**
 * A check of the payload (its frame CRC-32) that {@link decompressPayload} runs while a native decoder works on another
 * thread, and before it decodes on this one. When it throws, that error is thrown once the decoder has finished (so
 * refused frames never pile up work on the thread pool), and the decoder's output or failure is discarded.
 */
export type WhileDecoding = () => void;

/** Runs `check` while `decoding` is under way; a failed check wins, after `decoding` has settled. */
async function overlapped<T>(decoding: Promise<T>, check: WhileDecoding | undefined): Promise<T> {
  try {
    check?.();
  } catch (error) {
    await decoding.catch(() => undefined);
    throw error;
  }
  return decoding;
}

/**
 * @internal Decodes a zstd payload to exactly `expected` bytes with `backend` (or fzstd when it is undefined or a
 * frame does not declare its size). Frames are walked first so hostile headers fail before any allocation, and
 * content checksums are verified on every path. `whileDecoding` runs while the backend decodes (before fzstd does).
 * Throws `DECODE_ERROR`, `TENSOR_SIZE_MISMATCH`, `CHECKSUM_MISMATCH`, or what `whileDecoding` throws.
 */
export async function decodeZstd(payload: Uint8Array, expected: number, backend: ZstdBackend | undefined, whileDecoding?: WhileDecoding): Promise<Uint8Array> {
  if (expected === 0 && payload.length === 0) {
    whileDecoding?.();
    return new Uint8Array(0);
  }
  const frames = walkZstdFrames(payload);
  let bound = 0;
  let declared = 0;
  let allDeclared = true;
  let checksummed = false;
  for (const frame of frames) {
    bound += frame.maxOutput;
    if (frame.contentSize === undefined) allDeclared = false;
    else declared += frame.contentSize;
    if (frame.checksum !== undefined) checksummed = true;
  }
  if (bound < expected || (allDeclared && declared !== expected)) throw sizeMismatch(expected, allDeclared ? String(declared) : `at most ${bound}`);
  if (backend && allDeclared) {
    const decoding = backend.decompress(payload, expected).catch((cause: unknown) => {
      // libzstd refuses a wrong checksum as a generic error: decode again below to report which it was
      if (!checksummed) throw decodeFailure('zstd', cause);
      return undefined;
    });
    const out = await overlapped(decoding, whileDecoding);
    whileDecoding = undefined;
    if (out) {
      if (out.length !== expected) throw sizeMismatch(expected, String(out.length));
      if (checksummed) {
        let end = 0;
        await verifyContentChecksums(frames, frames.map((f) => (end += f.contentSize!)), out);
      }
      return out;
    }
  }
  whileDecoding?.();
  const { out, ends } = fzstdFrames(payload, frames, expected);
  if (checksummed) await verifyContentChecksums(frames, ends, out);
  return out;
}

/** A Buffer node:zlib returned, as a Uint8Array that owns its memory (small results share Node's buffer pool). */
function ownBytes(out: Buffer): Uint8Array {
  return out.byteOffset === 0 && out.buffer.byteLength === out.length ? new Uint8Array(out.buffer, 0, out.length) : new Uint8Array(out);
}

/** Inflates a zlib stream to exactly `expected` bytes; zlib stops as soon as the output would pass the cap. */
function inflateCapped(data: Uint8Array, expected: number): Uint8Array {
  let out: Buffer;
  try {
    out = zlib.inflateSync(data, { maxOutputLength: Math.max(expected, 1) });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw sizeMismatch(expected, `more than ${expected}`);
    throw decodeFailure('deflate', cause);
  }
  if (out.length !== expected) throw sizeMismatch(expected, String(out.length));
  return ownBytes(out);
}

/**
 * Compresses tensor bytes with `codec` at `level`. zstd output is one frame with the content size written and no
 * checksum. `none` returns `data` itself.
 */
export async function compressPayload(codec: LtpCodecName, data: Uint8Array, level: number): Promise<Uint8Array> {
  return concatParts(await compressPayloadParts(codec, data, level));
}

/**
 * @internal {@link compressPayload} as pieces whose concatenation is the payload: a zstd frame whose encoder left out
 * the content size comes back as its rewritten header plus a view of its blocks, so a serializer copying the payload
 * into a message anyway adds the size without a copy of its own.
 */
export async function compressPayloadParts(codec: LtpCodecName, data: Uint8Array, level: number): Promise<Uint8Array[]> {
  switch (codec) {
    case 'none':
      return [data];
    case 'deflate':
      return [ownBytes(zlib.deflateSync(data, { level }))];
    case 'zstd': {
      const impl = await zstdBackend();
      if (!impl) throw new ValidationError('UNSUPPORTED', 'no zstd compressor: node:zlib lacks zstd and @mongodb-js/zstd failed to load');
      return withContentSizeParts(await impl.compress(data, level), data.length);
    }
  }
}

/**
 * Decompresses a payload to exactly `expected` bytes. Output is capped at `expected` (bomb guard); zstd frames are
 * walked first so hostile headers fail before any allocation, and their content checksums (when present) are
 * verified. `whileDecoding` (a check of the payload) runs once the payload passed those bounds, while a native zstd
 * decoder works on the thread pool, else just before decoding. Throws `DECODE_ERROR` for a corrupt payload,
 * `CHECKSUM_MISMATCH` for a zstd frame whose content does not match its checksum, `TENSOR_SIZE_MISMATCH` when the
 * output is not `expected` bytes, and what `whileDecoding` throws (in preference to a decoding failure).
 */
export async function decompressPayload(codec: LtpCodecName, payload: Uint8Array, expected: number, whileDecoding?: WhileDecoding): Promise<Uint8Array> {
  switch (codec) {
    case 'none':
      whileDecoding?.();
      if (payload.length !== expected) throw sizeMismatch(expected, String(payload.length));
      return payload;
    case 'deflate':
      whileDecoding?.();
      // deflate expands at most 1032:1: a larger declared size cannot be met, so refuse it before allocating
      if (expected > payload.length * 1032 + 1024) throw sizeMismatch(expected, `at most ${payload.length * 1032 + 1024}`);
      return inflateCapped(payload, expected);
    case 'zstd':
      return decodeZstd(payload, expected, await zstdBackend(), whileDecoding);
  }
}
