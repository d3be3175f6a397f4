// SPDX-License-Identifier: Apache-2.0
// A zstd frame's Content_Checksum is verified on every decoding path: the native backend of this runtime, a backend
// that does not check it (as libzstd with checksums ignored would), and fzstd (frames without a content size).
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ValidationError, isEcpsError } from '@ecps/core';
import { decompressPayload } from '../src/index';
import { decodeZstd, nodeZlibBackend, type NodeZstd, type ZstdBackend } from '../src/codecs';
import { expectCode } from './helpers';

const dir = join(import.meta.dirname, 'vectors');
const sized = new Uint8Array(readFileSync(join(dir, 'zstd-checksum-sized.zst')));
const unsized = new Uint8Array(readFileSync(join(dir, 'zstd-checksum-unsized.zst')));
const raw = new Uint8Array(4096);
for (let i = 0; i < 1024; i++) new DataView(raw.buffer).setFloat32(i * 4, Math.round(Math.sin(i) * 100) / 4, true);

const flipChecksum = (frame: Uint8Array) => {
  const out = frame.slice();
  out[out.length - 1]! ^= 0x01;
  return out;
};

/** Returns the right content whatever the checksum says, like libzstd with ZSTD_d_forceIgnoreChecksum. */
const trusting: ZstdBackend = { name: 'trusting', compress: async (d) => d, decompress: async () => raw.slice() };

describe('zstd content checksum', () => {
  it('accepts frames made by the zstd tool with a correct checksum, sized and unsized', async () => {
    expect(await decompressPayload('zstd', sized, raw.length)).toEqual(raw);
    expect(await decompressPayload('zstd', unsized, raw.length)).toEqual(raw);
  });

  it('refuses a wrong checksum with CHECKSUM_MISMATCH on the native backend (content size declared)', async () => {
    await expectCode(decompressPayload('zstd', flipChecksum(sized), raw.length), 'CHECKSUM_MISMATCH');
  });

  it('refuses a wrong checksum with CHECKSUM_MISMATCH on the fzstd path (no content size)', async () => {
    await expectCode(decompressPayload('zstd', flipChecksum(unsized), raw.length), 'CHECKSUM_MISMATCH');
  });

  it('verifies the checksum itself, even when the backend does not', async () => {
    expect(await decodeZstd(sized, raw.length, trusting)).toEqual(raw);
    await expectCode(decodeZstd(flipChecksum(sized), raw.length, trusting), 'CHECKSUM_MISMATCH');
  });

  const z = zlib as unknown as Partial<NodeZstd>;
  (typeof z.zstdDecompress === 'function' ? it : it.skip)('node:zlib backend (Node >= 22.15): wrong checksum is CHECKSUM_MISMATCH', async () => {
    const backend = nodeZlibBackend(z as NodeZstd);
    expect(await decodeZstd(sized, raw.length, backend)).toEqual(raw);
    let error: unknown;
    await decodeZstd(flipChecksum(sized), raw.length, backend).catch((e: unknown) => (error = e));
    expect(isEcpsError(error, 'CHECKSUM_MISMATCH')).toBe(true);
  });
});

describe('a payload check run while the native decoder works', () => {
  /** A backend that decodes on a timer, like the thread pool, and logs when it starts and settles. */
  const slow = (log: string[], fail = false): ZstdBackend => ({
    name: 'slow',
    compress: async (d) => d,
    decompress: () => {
      log.push('decode started');
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          log.push('decode settled');
          if (fail) reject(new Error('corrupt block'));
          else resolve(raw.slice());
        }, 20),
      );
    },
  });

  it('runs after the decoder started and before its result is used', async () => {
    const log: string[] = [];
    expect(await decodeZstd(sized, raw.length, slow(log), () => void log.push('check'))).toEqual(raw);
    expect(log).toEqual(['decode started', 'check', 'decode settled']);
  });

  it('a failed check wins over the output and over a decoding failure, once the decoder has settled', async () => {
    for (const fail of [false, true]) {
      const log: string[] = [];
      const refused = new ValidationError('CHECKSUM_MISMATCH', 'frame CRC-32');
      let error: unknown;
      await decodeZstd(sized, raw.length, slow(log, fail), () => {
        log.push('check');
        throw refused;
      }).catch((e: unknown) => {
        log.push('refused');
        error = e;
      });
      expect(error).toBe(refused);
      // no decoder is left running for a refused frame
      expect(log).toEqual(['decode started', 'check', 'decode settled', 'refused']);
    }
  });

  it('runs before decoding when there is no native decoder (fzstd)', async () => {
    const log: string[] = [];
    await expectCode(
      decodeZstd(unsized, raw.length, undefined, () => {
        log.push('check');
        throw new ValidationError('CHECKSUM_MISMATCH', 'frame CRC-32');
      }),
      'CHECKSUM_MISMATCH',
    );
    expect(log).toEqual(['check']);
  });
});
