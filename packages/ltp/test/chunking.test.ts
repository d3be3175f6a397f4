// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { createTensor, compressTensor, crc32, formatShapeTuple, parseShapeTuple, splitIntoChunks } from '../src/index';

describe('shape tuple strings', () => {
  it.each([
    [[10, 1024, 1024], '(10, 1024, 1024)'],
    [[512], '(512,)'],
    [[], '()'],
  ])('formats %j as %s and parses it back', (shape, text) => {
    expect(formatShapeTuple(shape)).toBe(text);
    expect(parseShapeTuple(text)).toEqual(shape);
  });

  it.each(['[2,3]', '(2,3,)', '( 2 , 3 )', '[4]', '[]', '(7,)'])('accepts %s', (text) => {
    expect(() => parseShapeTuple(text)).not.toThrow();
  });

  it.each(['', '2,3', '(2;3)', '(2,,3)', '(-1,)', '(2.5,)', '(2,3]', '(a)', '(,)', '(99999999999,)', '((2,3))'])('rejects %s', (text) => {
    expect(() => parseShapeTuple(text)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});

describe('splitIntoChunks (spec §4.5)', () => {
  it('splits with cs = max_chunk_size − 1024, one tensor id, types 3/1/4 and the metadata keys', async () => {
    const data = new Uint8Array(10_000).map((_, i) => (i * 2654435761) >>> 24);
    const compressed = await compressTensor(createTensor('u8', [100, 100], data), { codec: 'none', frameId: 'cam', timestampNs: 7n });
    const chunks = splitIntoChunks(compressed, 0xfffffffe, 4096);
    const cs = 4096 - 1024;
    expect(chunks).toHaveLength(Math.ceil(10_000 / cs));
    chunks.forEach((chunk, i) => {
      const h = chunk.header!;
      expect(h.sequenceNumber).toBe(0xfffffffe);
      expect(h.totalChunks).toBe(4);
      expect(h.chunkIndex).toBe(i);
      expect(h.messageType).toBe(i === 0 ? 3 : i === 3 ? 4 : 1);
      expect(chunk.isFinal).toBe(i === 3);
      expect(h.payloadLength).toBe(chunk.chunkData.length);
      expect(Buffer.from(h.checksum).readUInt32BE(0)).toBe(crc32(chunk.chunkData));
      expect(Buffer.from(chunk.chunkData)).toEqual(Buffer.from(data.subarray(i * cs, (i + 1) * cs)));
      expect(h.metadata).toEqual({
        frame_id: 'cam',
        dtype: 'u8',
        shape: '(100, 100)',
        timestamp_ns: '7',
        original_size: '10000',
        compression_level: '0',
        codec: 'none',
      });
    });
  });

  it('refuses to chunk a payload that fits one frame, and a chunk size without room', async () => {
    const compressed = await compressTensor(createTensor('u8', [10], new Uint8Array(10)), { codec: 'none' });
    expect(() => splitIntoChunks(compressed, 1, 4096)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    try {
      splitIntoChunks(compressed, 1, 1024);
    } catch (e) {
      expect(isEcpsError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
