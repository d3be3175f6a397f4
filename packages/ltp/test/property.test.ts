// SPDX-License-Identifier: Apache-2.0
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LTP_DTYPES, type LtpCodecName, type LtpDtype } from '@ecps/core';
import { LTP } from '@ecps/proto';
import { zlibSync } from 'fflate';
import {
  crc32,
  crc32Bytes,
  decodeTensorFrame,
  decodeTensorFrameBytes,
  encodeTensorFrameBytes,
  f16ToNumber,
  numberToF16,
  pythonFloatString,
  tensorFromBytes,
  tensorToBytes,
  walkZstdFrames,
} from '../src/index';
import { copyWithCrc32, tableCrc32 } from '../src/crc32';
import { expectCode } from './helpers';
import { corpus, expectTyped, mutate, mutatePayload } from './hostile';

const dtypes = Object.keys(LTP_DTYPES) as LtpDtype[];

const tensorArb = fc
  .record({
    dtype: fc.constantFrom(...dtypes),
    shape: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }),
    codec: fc.constantFrom<LtpCodecName>('zstd', 'deflate', 'none'),
    seed: fc.integer(),
  })
  .map(({ dtype, shape, codec, seed }) => {
    const size = shape.reduce((a, b) => a * b, 1) * LTP_DTYPES[dtype];
    let x = seed | 1;
    const bytes = Uint8Array.from({ length: size }, () => ((x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 16) & 0xff);
    if (dtype === 'bool') bytes.forEach((b, i) => (bytes[i] = b & 1));
    return { tensor: tensorFromBytes(dtype, shape, bytes), codec };
  });

describe('properties', () => {
  it('any tensor round-trips through protobuf bytes with any codec', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb, async ({ tensor, codec }) => {
        const bytes = await encodeTensorFrameBytes(tensor, { codec, frameId: 'p' });
        const decoded = await decodeTensorFrameBytes(bytes);
        expect(decoded.tensor.shape).toEqual(tensor.shape);
        expect(Buffer.from(tensorToBytes(decoded.tensor))).toEqual(Buffer.from(tensorToBytes(tensor)));
      }),
      { numRuns: 150 },
    );
  });

  it('mutated frames and payloads decode or fail with a typed error, never anything else', async () => {
    const { frames } = await corpus();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...frames), fc.integer(), fc.boolean(), async (frame, seed, payloadOnly) => {
        let s = seed >>> 0 || 1;
        const rng = { int: (max: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % Math.max(max, 1)) };
        const input = payloadOnly ? mutatePayload(frame, rng) : mutate(frame, rng);
        await decodeTensorFrameBytes(input).catch(expectTyped);
      }),
      { numRuns: 400 },
    );
  });

  it('CRC-32 matches the check value, node:zlib and the table implementation', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(tableCrc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (data) => crc32(data) === tableCrc32(data)));
    // continuing a CRC over a split equals the CRC of the whole, in both implementations
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (data, cut) => {
        const head = data.subarray(0, cut);
        const tail = data.subarray(cut);
        return crc32(tail, crc32(head)) === crc32(data) && tableCrc32(tail, tableCrc32(head)) === crc32(data);
      }),
    );
  });

  it('copyWithCrc32 copies every byte to the offset and returns the CRC-32 of the source', () => {
    for (const length of [0, 1, 65_535, 65_536, 65_537, 200_001]) {
      const source = new Uint8Array(length).map((_, i) => (i * 31 + 7) & 0xff);
      const target = new Uint8Array(length + 3).fill(0xee);
      expect(copyWithCrc32(source, target, 2)).toBe(crc32(source));
      expect(Buffer.from(target.subarray(2, 2 + length)).equals(Buffer.from(source))).toBe(true);
      expect([target[0], target[1], target[length + 2]]).toEqual([0xee, 0xee, 0xee]);
    }
  });

  it('f16 conversion round-trips every half-precision value', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = f16ToNumber(bits);
      if (Number.isNaN(value)) continue;
      expect(numberToF16(value)).toBe(bits);
    }
    expect(numberToF16(65520)).toBe(0x7c00); // rounds to infinity
    expect(numberToF16(2 ** -25)).toBe(0); // ties to even at the bottom
  });

  it('formats ratios like Python str(float)', () => {
    const cases: [number, string][] = [
      [24 / 33, '0.7272727272727273'],
      [2, '2.0'],
      [1e16, '1e+16'],
      [1.5e-5, '1.5e-05'],
      [0.0001, '0.0001'],
      [123456789012345.6, '123456789012345.6'],
      [1e22, '1e+22'],
      [3.14, '3.14'],
    ];
    for (const [value, text] of cases) expect(pythonFloatString(value)).toBe(text);
    const python = (() => {
      try {
        return execFileSync('python3', ['-c', 'import sys; print("\\n".join(str(float(x)) for x in sys.stdin.read().split()))'], {
          input: '0.1 1e-7 123.0 5e15 9.999999999999999e15 2.5e-4 7e300',
        }).toString().trim().split('\n');
      } catch {
        return undefined;
      }
    })();
    if (python) {
      expect([0.1, 1e-7, 123, 5e15, 9.999999999999999e15, 2.5e-4, 7e300].map(pythonFloatString)).toEqual(python);
    }
  });
});

describe('hostile frames', () => {
  async function frameWith(payload: Uint8Array, patch: Partial<LTP> & { codec?: string } = {}): Promise<LTP> {
    const { codec, ...rest } = patch;
    const message = LTP.decode(await encodeTensorFrameBytes(tensorFromBytes('u8', [1024], new Uint8Array(1024)), { codec: 'none' }));
    message.tensorZstd = payload;
    message.header!.payloadLength = payload.length;
    message.header!.checksum = crc32Bytes(payload);
    message.header!.metadata = codec ? { codec } : {};
    message.compressionLevel = codec === 'none' ? 0 : 3;
    return { ...message, ...rest };
  }

  it('rejects shapes above the tensor cap before allocating', async () => {
    const message = await frameWith(new Uint8Array(8), { shape: [4294967295, 4294967295, 4294967295], originalSize: 0n });
    await expectCode(decodeTensorFrame(message), 'FRAME_TOO_LARGE');
    await expectCode(decodeTensorFrame(await frameWith(new Uint8Array(8), { shape: [300, 1024, 1024], originalSize: 0n })), 'FRAME_TOO_LARGE');
  });

  it('rejects a zstd frame that declares more than the tensor without decompressing it', async () => {
    const payload = new Uint8Array(execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(8 * 1024 * 1024) }));
    await expectCode(decodeTensorFrame(await frameWith(payload)), 'TENSOR_SIZE_MISMATCH');
  });

  it('stops a zstd bomb without a content size at the expected size', async () => {
    const payload = new Uint8Array(execFileSync('zstd', ['-q', '-c', '--no-content-size'], { input: Buffer.alloc(32 * 1024 * 1024) }));
    expect(walkZstdFrames(payload)[0]!.contentSize).toBeUndefined();
    await expectCode(decodeTensorFrame(await frameWith(payload)), 'TENSOR_SIZE_MISMATCH');
  });

  it('stops a deflate bomb at the expected size', async () => {
    const payload = zlibSync(new Uint8Array(32 * 1024 * 1024), { level: 9 });
    await expectCode(decodeTensorFrame(await frameWith(payload, { codec: 'deflate', compressionLevel: 9 })), 'TENSOR_SIZE_MISMATCH');
  });

  it('rejects a zstd window above 128 MiB, dictionaries and garbage as DECODE_ERROR', async () => {
    const hugeWindow = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00]);
    const dictionary = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x58, 0x07, 0x01, 0x00, 0x00]);
    for (const payload of [hugeWindow, dictionary, new Uint8Array([1, 2, 3, 4, 5])]) {
      await expectCode(decodeTensorFrame(await frameWith(payload)), 'DECODE_ERROR');
    }
  });

  it('applies every §3 rule with its code', async () => {
    const ok = await frameWith(new Uint8Array(1024), { codec: 'none' });
    await expect(decodeTensorFrame(ok)).resolves.toBeDefined();
    await expectCode(decodeTensorFrame({ ...ok, spec: 'ltp/1.0' }), 'UNSUPPORTED_VERSION');
    await expectCode(decodeTensorFrame({ ...ok, spec: '' }), 'UNSUPPORTED_VERSION');
    await expect(decodeTensorFrame({ ...ok, spec: 'ltp/0.12' })).resolves.toBeDefined();
    await expectCode(decodeTensorFrame({ ...ok, header: { ...ok.header!, version: 2 } }), 'UNSUPPORTED_VERSION');
    await expectCode(decodeTensorFrame({ ...ok, header: { ...ok.header!, payloadLength: 3 } }), 'CHECKSUM_MISMATCH');
    await expectCode(decodeTensorFrame({ ...ok, header: { ...ok.header!, checksum: new Uint8Array(3) } }), 'CHECKSUM_MISMATCH');
    await expect(decodeTensorFrame({ ...ok, header: { ...ok.header!, checksum: new Uint8Array(0) } })).resolves.toBeDefined();
    // no header (reference MEP clients): no CRC to check, and the codec defaults to zstd, which these raw bytes are not
    await expectCode(decodeTensorFrame({ ...ok, header: undefined }), 'DECODE_ERROR');
    await expectCode(decodeTensorFrame({ ...ok, dtype: 'f128' }), 'UNSUPPORTED_DTYPE');
    await expectCode(decodeTensorFrame({ ...ok, compressionLevel: 3 }), 'INVALID_COMPRESSION_LEVEL');
    await expectCode(decodeTensorFrame({ ...ok, originalSize: 1023n }), 'TENSOR_SIZE_MISMATCH');
    await expect(decodeTensorFrame({ ...ok, originalSize: 0n })).resolves.toBeDefined();
    await expectCode(decodeTensorFrame({ ...ok, shape: [1023] }), 'TENSOR_SIZE_MISMATCH');
    await expectCode(decodeTensorFrame(ok, { maxPayloadBytes: 1000 }), 'FRAME_TOO_LARGE');
    await expectCode(decodeTensorFrame({ ...ok, header: { ...ok.header!, metadata: { codec: 'lz4' } } }), 'UNSUPPORTED');
    await expectCode(decodeTensorFrameBytes(new Uint8Array([0x0a, 0xff])), 'DECODE_ERROR');
    const zstdOk = await frameWith(new Uint8Array(execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(1024) })));
    await expectCode(decodeTensorFrame({ ...zstdOk, compressionLevel: 23 }), 'INVALID_COMPRESSION_LEVEL');
    await expect(decodeTensorFrame({ ...zstdOk, compressionLevel: 0 })).resolves.toBeDefined();
  });
});
