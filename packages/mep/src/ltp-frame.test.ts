// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { LTP } from '@ecps/proto';
import { vectorsDir } from '@ecps/testkit';
import { decodeTensorFrame, encodeTensorFrame, formatPythonFloat, zstdStoredFrame } from './ltp-frame';

const vector = (name: string) => new Uint8Array(readFileSync(join(vectorsDir(), name)));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isEcpsError(error) ? error.code : 'not-ecps';
  }
  return undefined;
}

describe('LTP DATA frames for MEP', () => {
  it('decodes the reference vector ltp_data_frame.bin to ltp_tensor_raw.bin', () => {
    const tensor = decodeTensorFrame(LTP.decode(vector('ltp_data_frame.bin')));
    expect(tensor.dtype).toBe('f32');
    expect(tensor.shape).toEqual([2, 3]);
    expect(Buffer.from(tensor.bytes)).toEqual(Buffer.from(vector('ltp_tensor_raw.bin')));
  });

  it('round-trips the frames it encodes (stored zstd blocks, CRC set), across the 128 KiB block size', () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    const frame = encodeTensorFrame({ tensor: { bytes, dtype: 'u8', shape: [300, 1000] }, frameId: 'f', timestampNs: 5n, attributes: { a: 'b' } });
    const again = decodeTensorFrame(LTP.decode(LTP.encode(frame).finish()));
    expect(Buffer.from(again.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(frame.attributes['tensor_elements']).toBe('300000');
    expect(frame.header?.metadata['timestamp']).toBe('5');
  });

  it('rejects bad spec, dtype, CRC, size and level with the §3 codes', () => {
    const good = encodeTensorFrame({ tensor: { bytes: new Uint8Array(8), dtype: 'f32', shape: [2] }, frameId: '', timestampNs: 0n, attributes: {} });
    expect(codeOf(() => decodeTensorFrame({ ...good, spec: 'ltp/1.0' }))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => decodeTensorFrame({ ...good, dtype: 'f128' }))).toBe('UNSUPPORTED_DTYPE');
    expect(codeOf(() => decodeTensorFrame({ ...good, shape: [3] }))).toBe('TENSOR_SIZE_MISMATCH');
    expect(codeOf(() => decodeTensorFrame({ ...good, originalSize: 12n }))).toBe('TENSOR_SIZE_MISMATCH');
    expect(codeOf(() => decodeTensorFrame({ ...good, compressionLevel: 23 }))).toBe('INVALID_COMPRESSION_LEVEL');
    const corrupt = good.tensorZstd.slice();
    corrupt[corrupt.length - 1] = corrupt.at(-1)! ^ 1;
    expect(codeOf(() => decodeTensorFrame({ ...good, tensorZstd: corrupt }))).toBe('CHECKSUM_MISMATCH');
    expect(codeOf(() => decodeTensorFrame(good))).toBeUndefined();
  });

  it('accepts header-less frames (reference MEP clients), deflate and none, and stops zstd bombs', () => {
    const raw = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const base = { spec: 'ltp/0.9', shape: [3], dtype: 'f32', frameId: '', timestampNs: 0n, compressionLevel: 0, originalSize: 0n, attributes: {} };
    expect(decodeTensorFrame({ ...base, header: undefined, tensorZstd: zstdStoredFrame(raw) }).bytes).toEqual(raw);
    const meta = (codec: string) => ({ version: 1, messageType: 1, payloadLength: 0, sequenceNumber: 0, totalChunks: 0, chunkIndex: 0, checksum: new Uint8Array(), metadata: { codec } });
    expect(decodeTensorFrame({ ...base, header: meta('deflate'), tensorZstd: deflateSync(raw) }).bytes).toEqual(raw);
    expect(decodeTensorFrame({ ...base, header: meta('none'), tensorZstd: raw }).bytes).toEqual(raw);
    const bomb = zstdStoredFrame(new Uint8Array(1 << 20));
    expect(codeOf(() => decodeTensorFrame({ ...base, header: undefined, tensorZstd: bomb }))).toBe('TENSOR_SIZE_MISMATCH');
    expect(codeOf(() => decodeTensorFrame({ ...base, header: meta('lz4'), tensorZstd: raw }))).toBe('DECODE_ERROR');
  });

  it('formats floats like Python repr (shortest round trip)', () => {
    expect(formatPythonFloat(0.9238795325112867)).toBe('0.9238795325112867');
    expect(formatPythonFloat(24 / 33)).toBe('0.7272727272727273');
    expect(formatPythonFloat(2)).toBe('2.0');
    expect(formatPythonFloat(1)).toBe('1.0');
    expect(formatPythonFloat(0)).toBe('0.0');
    expect(formatPythonFloat(-0.5)).toBe('-0.5');
    expect(formatPythonFloat(1e-7)).toBe('1e-07');
    expect(formatPythonFloat(0.0001)).toBe('0.0001');
    expect(formatPythonFloat(1.5e16)).toBe('1.5e+16');
    expect(formatPythonFloat(123456.789)).toBe('123456.789');
    for (const x of [Math.PI, -1 / 3, 0.1 + 0.2, 1e-300, 6.02e23]) expect(Number(formatPythonFloat(x))).toBe(x);
  });
});
