// SPDX-License-Identifier: Apache-2.0
// LTP encode+decode throughput (tensor -> canonical LTP bytes -> tensor, CRC-32 and all §3 checks included) for
// float32 tensors, against the raw work underneath in the same run. `none`: the fair round trip of a checksummed
// frame, one copy into a message buffer plus its CRC-32, then the receiver's CRC-32 plus one copy out (the payload
// sits at an arbitrary offset in a received message, so a typed array needs it copied). `zstd`: compress+decompress
// with the native functions of the binding LTP uses on this runtime, at LTP's default level 3 (the package's index.js
// wrapper would drop the level; LTP calls the same native functions). `deflate`: node:zlib's deflateSync+inflateSync,
// the zlib LTP uses. For both, a note gives ours against the codec plus a wire message's own work as well (rawWire).
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { createTensor, decodeTensorFrameBytes, encodeTensorFrameBytes, type Tensor } from '@ecps/ltp';
import type { LtpCodecName } from '@ecps/core';
import { median, type BenchCase, type CaseDetails } from '../harness';
import { fmt } from '../targets';

const GIB = 2 ** 30;

const zstd = createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as {
  compress(data: Buffer, level: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
};

function sensorTensor(bytes: number): Tensor {
  const n = bytes / 4;
  const data = new Float32Array(n);
  let seed = 0x2545f491;
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    // a smooth field with 8 bits of noise: compresses, but not trivially
    data[i] = Math.round((Math.sin(i / 1024) + (seed >>> 24) / 2048) * 4096) / 4096;
  }
  return createTensor('f32', [n / 1024, 1024], data);
}

/** Runs `work` until at least `minMs` passed (and at least once); returns GiB/s of `bytes` per call. */
async function gibPerSecond(bytes: number, work: () => Promise<unknown>, minMs: number): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    await work();
    calls++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (calls * bytes) / GIB / (elapsed / 1000);
}

/** The codecs LTP uses, called directly: zstd through the binding's native functions at level 3, deflate at 6. */
const CODECS = {
  zstd: { compress: (b: Buffer) => zstd.compress(b, 3), decompress: (b: Buffer) => zstd.decompress(b) },
  deflate: { compress: async (b: Buffer) => zlib.deflateSync(b, { level: 6 }), decompress: async (b: Buffer) => zlib.inflateSync(b) },
};

function raw(codec: LtpCodecName, bytes: Uint8Array): () => Promise<unknown> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (codec !== 'none') {
    const { compress, decompress } = CODECS[codec];
    return async () => decompress(await compress(buffer));
  }
  return async () => {
    const message = Buffer.allocUnsafe(buffer.length);
    buffer.copy(message);
    const sent = zlib.crc32(message);
    if (zlib.crc32(message) !== sent) throw new Error('unreachable');
    const out = Buffer.allocUnsafe(message.length);
    message.copy(out);
    return out;
  };
}

/**
 * The raw codec plus what any checksummed wire message adds to it: the compressed bytes copied into a message buffer
 * of their own (the codec allocates its output, a transport sends one buffer) with their CRC-32, and the receiver's
 * CRC-32 before decompressing. Reported next to the ratio to show how much of the gap that work is.
 */
function rawWire(codec: 'zstd' | 'deflate', bytes: Uint8Array): () => Promise<unknown> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { compress, decompress } = CODECS[codec];
  return async () => {
    const compressed = await compress(buffer);
    const message = Buffer.allocUnsafeSlow(compressed.length);
    compressed.copy(message);
    const sent = zlib.crc32(message);
    if (zlib.crc32(message) !== sent) throw new Error('unreachable');
    return decompress(message);
  };
}

function cases(): BenchCase[] {
  const list: BenchCase[] = [];
  for (const [label, size] of [['1 MiB', 2 ** 20], ['64 MiB', 64 * 2 ** 20]] as const) {
    for (const codec of ['none', 'zstd', 'deflate'] as LtpCodecName[]) {
      let tensor: Tensor | undefined;
      const big = size > 2 ** 20;
      const wire: number[] = [];
      list.push({
        name: `LTP encode+decode f32 ${label} ${codec} (vs raw ${codec === 'none' ? 'copy + 2 zlib.crc32 + copy' : codec === 'zstd' ? 'zstd binding' : 'node:zlib'})`,
        unit: 'GiB/s',
        higherIsBetter: true,
        // each measurement runs for a while (a 1 MiB round trip takes 2-30 ms): a 300 ms one swung ±30 % run to run
        repetitions: big ? 3 : 7,
        target: 0.9,
        requiredWork: {
          // crc32 is named crc32<n> in the bundle; walkZstdFrames bounds a zstd payload's output before it is decoded
          functions: /^(crc32\d*|checkCrc|walkZstdFrames)$/,
          why: 'the CRC-32 of the payload on both ends, and the walk of its zstd frames that bounds what they decode to',
        },
        async setup() {
          tensor = sensorTensor(size);
          wire.length = 0;
        },
        async teardown() {
          tensor = undefined;
        },
        ours: () =>
          gibPerSecond(size, async () => decodeTensorFrameBytes(await encodeTensorFrameBytes(tensor!, { codec, frameId: 'bench' })), big ? 2000 : 1000),
        async baseline() {
          const bytes = new Uint8Array(tensor!.data.buffer);
          if (codec !== 'none') wire.push(await gibPerSecond(size, rawWire(codec, bytes), big ? 2000 : 1000));
          return gibPerSecond(size, raw(codec, bytes), big ? 2000 : 1000);
        },
        details: ({ ours }) => (codec === 'none' ? undefined : wireNote(ours, wire)),
      });
    }
  }
  return list;
}

function wireNote(ours: number, wire: number[]): CaseDetails | undefined {
  if (wire.length === 0) return undefined;
  const gib = median(wire);
  const ratio = ours / gib;
  return {
    notes: [
      `against the raw codec plus a checksummed wire message's own work (its compressed bytes copied into a message buffer, a CRC-32 at each end): ${fmt(gib)} GiB/s, ratio ${ratio.toFixed(2)}`,
    ],
    data: { rawWireGibPerSecond: gib, ratioToRawWire: ratio },
  };
}

export default cases();
