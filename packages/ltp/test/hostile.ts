// SPDX-License-Identifier: Apache-2.0
// Shared by the property tests and the fuzz target: a corpus of valid frames and mutators.
import { LTP, LTPChunk } from '@ecps/proto';
import { isEcpsError, type LtpCodecName } from '@ecps/core';
import {
  compressTensor,
  createTensor,
  crc32Bytes,
  encodeTensorFrameBytes,
  splitIntoChunks,
} from '../src/index';

export async function corpus(): Promise<{ frames: Uint8Array[]; chunks: Uint8Array[] }> {
  const frames: Uint8Array[] = [];
  const chunks: Uint8Array[] = [];
  let x = 12345;
  const data = new Float32Array(3000).map(() => ((x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 20) % 100);
  const tensor = createTensor('f32', [30, 100], data);
  for (const codec of ['zstd', 'deflate', 'none'] as LtpCodecName[]) {
    frames.push(await encodeTensorFrameBytes(tensor, { codec, frameId: 'cam', timestampNs: 1n }));
    const compressed = await compressTensor(tensor, { codec, timestampNs: 2n });
    for (const c of splitIntoChunks(compressed, 9, 1024 + Math.ceil(compressed.payload.length / 4))) chunks.push(LTPChunk.encode(c).finish());
  }
  return { frames, chunks };
}

export interface Rng {
  int(max: number): number;
}

/** One random structural mutation of `input`. */
export function mutate(input: Uint8Array, rng: Rng): Uint8Array {
  const out = input.slice();
  switch (rng.int(6)) {
    case 0: // flip bits
      for (let k = 1 + rng.int(4); k > 0 && out.length; k--) out[rng.int(out.length)]! ^= 1 << rng.int(8);
      return out;
    case 1: // set bytes to boundary values
      for (let k = 1 + rng.int(4); k > 0 && out.length; k--) out[rng.int(out.length)] = [0, 0x7f, 0x80, 0xff][rng.int(4)]!;
      return out;
    case 2: // truncate
      return out.subarray(0, rng.int(out.length + 1));
    case 3: {
      // insert random bytes
      const at = rng.int(out.length + 1);
      const extra = Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256));
      return new Uint8Array([...out.subarray(0, at), ...extra, ...out.subarray(at)]);
    }
    case 4: {
      // duplicate a slice
      const a = rng.int(out.length + 1);
      const b = a + rng.int(out.length - a + 1);
      return new Uint8Array([...out, ...out.subarray(a, b)]);
    }
    default:
      return Uint8Array.from({ length: rng.int(200) }, () => rng.int(256));
  }
}

/**
 * Mutates the payload of a valid frame and fixes its length and CRC, so the decompressors (not the CRC) face the
 * corrupt bytes. Also perturbs the declared shape and sizes sometimes.
 */
export function mutatePayload(frame: Uint8Array, rng: Rng): Uint8Array {
  const message = LTP.decode(frame);
  message.tensorZstd = mutate(message.tensorZstd, rng);
  if (rng.int(4) === 0) message.shape = message.shape.map((d) => (rng.int(3) === 0 ? rng.int(2 ** 32) : d));
  if (rng.int(4) === 0) message.originalSize = BigInt(rng.int(2 ** 32)) * BigInt(rng.int(2 ** 20));
  message.header!.payloadLength = message.tensorZstd.length;
  message.header!.checksum = crc32Bytes(message.tensorZstd);
  return LTP.encode(message).finish();
}

/** Rethrows anything that is not a typed ECPS error. */
export function expectTyped(error: unknown): void {
  if (!isEcpsError(error)) throw error;
}
