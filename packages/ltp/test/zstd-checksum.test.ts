// SPDX-License-Identifier: Apache-2.0
// A zstd frame's Content_Checksum is verified on every decoding path: the native backend of this runtime, a backend
// that does not check it (as libzstd with checksums ignored would), and fzstd (frames without a content size).
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
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
