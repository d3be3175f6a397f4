// SPDX-License-Identifier: Apache-2.0
// Fuzz targets for every LTP parser of network bytes (shared harness, seeded budget: ECPS_FUZZ_MS / ECPS_FUZZ_SEED):
//   ltp-data-frame  protobuf bytes of a DATA frame through the decoder
//   ltp-payload     codec byte + payload inside a well-formed frame (CRC repaired), so the decompressors see it
//   ltp-chunk       flag byte + LTPChunk protobuf through the reassembler, which must keep its memory bounds
// Every refusal must be a typed ECPS error. Inputs that once found a bug live in fuzz-corpus/<target>/.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ManualClock, isEcpsError, tensorByteSize, type LtpCodecName } from '@ecps/core';
import { LTP, LTPChunk } from '@ecps/proto';
import { decodeEvent } from '@ecps/serialization';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { Reassembler, crc32Bytes, decodeTensorFrame, decodeTensorFrameBytes, tensorToBytes } from '../src/index';
import { corpus } from './hostile';

const CODECS: readonly LtpCodecName[] = ['zstd', 'deflate', 'none'];
const corpusDir = (target: string) => join(import.meta.dirname, 'fuzz-corpus', target);
const { frames, chunks } = await corpus();
const LIMITS = { maxTensorBytes: 4 * 1024 * 1024 };

/** A decoded tensor must be exactly what its dtype and shape say. */
function checkTensor(tensor: Parameters<typeof tensorToBytes>[0]): void {
  const bytes = tensorToBytes(tensor).length;
  if (BigInt(bytes) !== tensorByteSize(tensor.shape, tensor.dtype)) {
    throw new FuzzInvariantError(`decoded ${bytes} bytes for dtype ${tensor.dtype} shape [${tensor.shape.join(', ')}]`);
  }
}

const dataFrame: FuzzTarget = {
  name: 'ltp-data-frame',
  seeds: [...frames, ...loadCorpus(corpusDir('ltp-data-frame'))],
  isExpected: (e) => isEcpsError(e),
  async run(input) {
    checkTensor((await decodeTensorFrameBytes(input, LIMITS)).tensor);
  },
};

// The template frames the payload target fills in: one per codec, with their declared dtype, shape and sizes.
const templates = CODECS.map((_, i) => LTP.decode(frames[i]!));
const payload: FuzzTarget = {
  name: 'ltp-payload',
  seeds: [
    ...templates.map((t, i) => Uint8Array.of(i, ...t.tensorZstd)),
    ...loadCorpus(corpusDir('ltp-payload')),
  ],
  isExpected: (e) => isEcpsError(e),
  async run(input) {
    if (input.length === 0) return;
    const codecIndex = input[0]! % CODECS.length;
    const template = templates[codecIndex]!;
    const body = input.subarray(1);
    const message: LTP = {
      ...template,
      tensorZstd: body,
      header: { ...template.header!, payloadLength: body.length, checksum: crc32Bytes(body) },
    };
    checkTensor((await decodeTensorFrame(message, LIMITS)).tensor);
  },
};

// One reassembler for the whole run, so state (open tensors, tombstones, timers) builds up as it would on a node.
const clock = new ManualClock();
const maxBufferedBytes = 64 * 1024;
const maxOpenTensors = 16;
let untyped: unknown;
const reassembler = new Reassembler(
  {
    onTensor: (t) => checkTensor(t.tensor),
    onDiscard: (e) => void (isEcpsError(e) ? undefined : (untyped ??= e)),
    onReport: (r) => void (r.error === undefined || isEcpsError(r.error) ? undefined : (untyped ??= r.error)),
  },
  { clock, maxBufferedBytes, maxOpenTensors, maxChunkSize: 64 * 1024 },
);
const chunk: FuzzTarget = {
  name: 'ltp-chunk',
  // flag byte: bit 0 repairs length and CRC (so the chunk gets past them), bits 1-7 pick one of 128 senders
  seeds: [...chunks.flatMap((c) => [Uint8Array.of(1, ...c), Uint8Array.of(0, ...c)]), ...loadCorpus(corpusDir('ltp-chunk'))],
  isExpected: (e) => isEcpsError(e),
  async run(input) {
    if (input.length === 0) return;
    const flags = input[0]!;
    const decoded = decodeEvent('LTPChunk', { id: 'f', source: 'urn:ecps:fuzz', type: 'ecps.ltp.chunk', datacontenttype: 'application/protobuf', data: input.subarray(1) });
    const message: LTPChunk = flags & 1 && decoded.header
      ? { ...decoded, header: { ...decoded.header, payloadLength: decoded.chunkData.length, checksum: crc32Bytes(decoded.chunkData) } }
      : decoded;
    await reassembler.accept(message, `urn:ecps:s${flags >> 1}`, 't');
    clock.advance(150); // gap acks, idle acks, timeouts and tombstone expiry all get their turn
    if (untyped !== undefined) throw untyped;
    const stats = reassembler.stats();
    if (stats.bufferedBytes > maxBufferedBytes) throw new FuzzInvariantError(`buffered ${stats.bufferedBytes} > ${maxBufferedBytes}`);
    if (stats.openTensors > maxOpenTensors) throw new FuzzInvariantError(`${stats.openTensors} open tensors > ${maxOpenTensors}`);
  },
};

describe('LTP fuzz targets', () => {
  for (const target of [dataFrame, payload, chunk]) {
    it(`${target.name}: 0 crashes, 0 untyped exceptions`, async () => {
      const report = await runFuzzTarget(target);
      expect(report.failure).toBeUndefined();
      expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
      expect(report.iterations).toBeGreaterThan(50);
    }, 120_000);
  }
});
