// SPDX-License-Identifier: Apache-2.0
// Memory stays bounded whatever a chunk declares: counts, sizes and the number of open tensors are checked before
// anything is allocated for them.
import { beforeEach, describe, expect, it } from '@jest/globals';
import { ManualClock, isEcpsError } from '@ecps/core';
import type { LTPChunk } from '@ecps/proto';
import { zlibSync } from 'fflate';
import { Reassembler, compressTensor, createTensor, crc32Bytes, decompressPayload, splitIntoChunks, type ReassemblyReport } from '../src/index';
import { expectCode } from './helpers';

const MAX = 2048; // chunk payload 1024 bytes

async function chunksOf(n: number, tensorId = 7): Promise<LTPChunk[]> {
  const tensor = createTensor('f32', [n], new Float32Array(n).map((_, i) => Math.sin(i)));
  return splitIntoChunks(await compressTensor(tensor, { codec: 'none', frameId: 'cam', timestampNs: 1n }), tensorId, MAX);
}

function withHeader(chunk: LTPChunk, header: Partial<NonNullable<LTPChunk['header']>>, data = chunk.chunkData): LTPChunk {
  return { ...chunk, chunkData: data, header: { ...chunk.header!, payloadLength: data.length, checksum: crc32Bytes(data), ...header } };
}

describe('Reassembler bounds', () => {
  let clock: ManualClock;
  let discarded: unknown[];
  let reports: ReassemblyReport[];
  const make = (options: ConstructorParameters<typeof Reassembler>[1] = {}) =>
    new Reassembler(
      { onTensor: () => undefined, onDiscard: (e) => void discarded.push(e), onReport: (r) => void reports.push(r) },
      { clock, maxChunkSize: MAX, ...options },
    );

  beforeEach(() => {
    clock = new ManualClock();
    discarded = [];
    reports = [];
  });

  it('refuses a chunk declaring 2^32 - 1 chunks before opening anything for it', async () => {
    const [first] = await chunksOf(1000);
    const r = make();
    await r.accept(withHeader(first!, { totalChunks: 2 ** 32 - 1 }), 'urn:ecps:a', 't');
    expect(discarded).toHaveLength(1);
    expect(isEcpsError(discarded[0], 'FRAME_TOO_LARGE')).toBe(true);
    expect(r.stats()).toMatchObject({ openTensors: 0, bufferedBytes: 0 });
    // and nothing waits on a timer that would walk 2^32 indexes
    clock.advance(10_000);
    expect(reports).toEqual([]);
    r.close();
  });

  it('bounds the chunk count by what the declared tensor can need (4000 raw bytes: at most 4 + slack)', async () => {
    const chunks = await chunksOf(1000); // 4000 bytes, codec none: exactly 4 chunks of <= 1024
    const r = make();
    await r.accept(withHeader(chunks[0]!, { totalChunks: 5 }), 'urn:ecps:a', 't');
    expect(isEcpsError(discarded[0], 'FRAME_TOO_LARGE')).toBe(true);
    expect(r.stats().openTensors).toBe(0);
    r.close();
  });

  it('drops a tensor whose chunks together exceed what its codec can produce for the declared size', async () => {
    const chunks = await chunksOf(1000);
    const r = make();
    const big = new Uint8Array(1024).fill(1);
    for (let i = 0; i < 3; i++) await r.accept(withHeader(chunks[i]!, {}, big), 'urn:ecps:a', 't');
    await r.accept(withHeader(chunks[3]!, {}, big), 'urn:ecps:a', 't'); // 4096 > 4000
    expect(reports.map((x) => x.reason)).toEqual(['decode_error']);
    expect(isEcpsError(reports[0]!.error, 'FRAME_TOO_LARGE')).toBe(true);
    expect(r.stats()).toMatchObject({ openTensors: 0, bufferedBytes: 0 });
    r.close();
  });

  it('caps open tensors across all senders and evicts the oldest', async () => {
    const r = make({ maxOpenTensors: 3 });
    for (let s = 0; s < 10; s++) await r.accept((await chunksOf(1000, s))[0]!, `urn:ecps:s${s}`, 't');
    expect(r.stats().openTensors).toBe(3);
    expect(reports.map((x) => [x.reason, x.sender])).toEqual(
      Array.from({ length: 7 }, (_, s) => ['evicted', `urn:ecps:s${s}`]),
    );
    r.close();
  });

  it('counts bookkeeping, not just data: a flood of empty chunks from forged senders stays under the byte cap', async () => {
    const maxBufferedBytes = 16 * 1024;
    const r = make({ maxBufferedBytes, maxOpenTensors: 1000, maxOpenPerSender: 1000 });
    const chunks = await chunksOf(60_000); // 240 KB: 235 chunks declared
    let peak = 0;
    for (let i = 0; i < 2000; i++) {
      const c = chunks[i % chunks.length]!;
      await r.accept(withHeader(c, { sequenceNumber: i }, new Uint8Array(0)), `urn:ecps:forged-${i}`, 't');
      peak = Math.max(peak, r.stats().bufferedBytes);
    }
    expect(peak).toBeLessThanOrEqual(maxBufferedBytes);
    expect(r.stats().openTensors).toBeLessThan(100);
    r.close();
  });
});

describe('decompression bounds', () => {
  it('refuses a deflate payload declaring more than 1032 times its size without allocating the declared size', async () => {
    const payload = zlibSync(new Uint8Array(1000), { level: 6 });
    const before = process.memoryUsage().arrayBuffers;
    await expectCode(decompressPayload('deflate', payload, 256 * 1024 * 1024), 'TENSOR_SIZE_MISMATCH');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });
});
