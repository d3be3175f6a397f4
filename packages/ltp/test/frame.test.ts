// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LTP } from '@ecps/proto';
import { vectorsDir } from '@ecps/testkit';
import {
  createTensor,
  crc32,
  decodeTensorFrame,
  decodeTensorFrameBytes,
  encodeTensorFrame,
  encodeTensorFrameBytes,
  tensorToBytes,
  walkZstdFrames,
  type Tensor,
} from '../src/index';
import { bytesField, stringMap, walkFields } from './proto-walker';
import { expectCode } from './helpers';

const sameData = (a: Tensor, b: Tensor) => Buffer.from(tensorToBytes(a)).equals(Buffer.from(tensorToBytes(b)));
const vector = (name: string) => new Uint8Array(readFileSync(join(vectorsDir(), name)));

describe('reference vector ltp_data_frame.bin', () => {
  it('decodes to exactly ltp_tensor_raw.bin with the CRC verified', async () => {
    const frame = vector('ltp_data_frame.bin');
    const raw = vector('ltp_tensor_raw.bin');
    const message = LTP.decode(frame);
    expect(Buffer.from(message.header!.checksum).toString('hex')).toBe('86c611d3');
    expect(crc32(message.tensorZstd)).toBe(0x86c611d3);
    const decoded = await decodeTensorFrame(message);
    expect(decoded.tensor.dtype).toBe('f32');
    expect(decoded.tensor.shape).toEqual([2, 3]);
    expect(Array.from(decoded.tensor.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Buffer.from(tensorToBytes(decoded.tensor))).toEqual(Buffer.from(raw));
    expect(decoded).toMatchObject({ frameId: 'camera', timestampNs: 1640995200000000000n, codec: 'zstd', compressionLevel: 3 });
  });

  it('rejects the vector with one payload byte flipped (CHECKSUM_MISMATCH)', async () => {
    const message = LTP.decode(vector('ltp_data_frame.bin'));
    message.tensorZstd = message.tensorZstd.slice();
    message.tensorZstd[20]! ^= 0x01;
    await expectCode(decodeTensorFrame(message), 'CHECKSUM_MISMATCH');
  });

  it('re-encodes to a decoded-equal message, plus the reference attributes', async () => {
    const reference = LTP.decode(vector('ltp_data_frame.bin'));
    const tensor = createTensor('f32', [2, 3], new Float32Array([0, 1, 2, 3, 4, 5]));
    const ours = await encodeTensorFrame(tensor, { frameId: 'camera', timestampNs: 1640995200000000000n });
    expect(ours.attributes).toEqual({ compression_ratio: '0.7272727272727273', tensor_elements: '6' });
    expect(ours.header!.checksum).toEqual(reference.header!.checksum);
    expect({ ...ours, attributes: {} }).toEqual(reference);
  });
});

describe('interoperability with third-party tools', () => {
  it('a frame we encode decodes with a plain protobuf walker and the zstd CLI', async () => {
    const data = new Float32Array(50_000).map((_, i) => Math.sin(i / 50));
    const message = await encodeTensorFrame(createTensor('f32', [250, 200], data), { frameId: 'lidar', timestampNs: 42n });
    const bytes = LTP.encode(message).finish();
    const fields = walkFields(bytes);
    expect(new TextDecoder().decode(bytesField(fields, 1))).toBe('ltp/0.9');
    const header = walkFields(bytesField(fields, 2));
    const checksum = bytesField(header, 7);
    const payload = bytesField(fields, 3);
    expect(Buffer.from(checksum).readUInt32BE(0)).toBe(crc32(payload));
    expect(stringMap(header, 8)).toEqual({ frame_id: 'lidar', dtype: 'f32', timestamp: '42' });

    // one frame, content size written, no checksum (spec §4.2)
    const [frame, ...rest] = walkZstdFrames(payload);
    expect(rest).toHaveLength(0);
    expect(frame!.contentSize).toBe(200_000);
    expect((payload[4]! >> 2) & 1).toBe(0);

    const dir = mkdtempSync(join(tmpdir(), 'ltp-zstd-'));
    try {
      writeFileSync(join(dir, 'p.zst'), payload);
      execFileSync('zstd', ['-q', '-d', join(dir, 'p.zst'), '-o', join(dir, 'p.raw')]);
      const listing = execFileSync('zstd', ['-lv', join(dir, 'p.zst')], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      expect(listing).toMatch(/Decompressed Size: .*\(200000 B\)/);
      expect(listing).toMatch(/Check: None/);
      expect(Buffer.from(readFileSync(join(dir, 'p.raw')))).toEqual(Buffer.from(data.buffer));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes payloads the zstd CLI wrote: streamed without a content size, and concatenated frames', async () => {
    const data = new Int32Array(30_000).map((_, i) => (i * 7919) % 1000);
    const raw = Buffer.from(data.buffer);
    const half = raw.length / 2;
    const streamed = execFileSync('zstd', ['-q', '-c', '-3', '--no-check'], { input: raw });
    const first = execFileSync('zstd', ['-q', '-c', '--no-check'], { input: raw.subarray(0, half) });
    const second = execFileSync('zstd', ['-q', '-c', '--no-check', '--no-content-size'], { input: raw.subarray(half) });
    for (const payload of [new Uint8Array(streamed), new Uint8Array(Buffer.concat([first, second]))]) {
      const message = await encodeTensorFrame(createTensor('i32', [30_000], data), { frameId: 'x', codec: 'none' });
      message.tensorZstd = payload;
      message.header!.payloadLength = payload.length;
      message.header!.checksum = new Uint8Array(0);
      message.header!.metadata = {};
      message.compressionLevel = 3;
      const decoded = await decodeTensorFrame(message);
      expect(Array.from(decoded.tensor.data as Int32Array)).toEqual(Array.from(data));
    }
  });
});

describe('encodeTensorFrameBytes / decodeTensorFrameBytes (one-allocation serializer, fused copy and CRC)', () => {
  const options = { frameId: 'lidar', timestampNs: 42n, tensorId: 7, attributes: { mep_id: 'm1' } };

  // 140 000 bytes: two fused copy-and-CRC steps plus a partial one
  const tensor = createTensor('f32', [140, 250], new Float32Array(35_000).map((_, i) => Math.cos(i / 7)));

  it.each(['zstd', 'deflate'] as const)('%s: bytes equal the generated encoder over the same frame', async (codec) => {
    const bytes = await encodeTensorFrameBytes(tensor, { ...options, codec });
    const expected = LTP.encode(await encodeTensorFrame(tensor, { ...options, codec })).finish();
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(bytes.length);
    const decoded = await decodeTensorFrameBytes(bytes);
    expect(sameData(decoded.tensor, tensor)).toBe(true);
    expect(decoded).toMatchObject({ frameId: 'lidar', tensorId: 7, codec });
  });

  // frames of 256 KiB and more are allocated before their envelope is encoded, with room to spare; zstd payloads are
  // copied in as a rewritten header plus the binding's blocks (no copy to add the content size)
  const corpus: [string, Tensor][] = [
    ['f32 1 MiB smooth', createTensor('f32', [256, 1024], new Float32Array(262_144).map((_, i) => Math.round(Math.sin(i / 1024) * 4096) / 4096))],
    ['u8 300 000 noise', createTensor('u8', [300_000], new Uint8Array(300_000).map((_, i) => (i * 2_654_435_761) >>> 24))],
    ['f64 262 144 B ramp', createTensor('f64', [32_768], new Float64Array(32_768).map((_, i) => i / 3))],
    ['i16 odd size', createTensor('i16', [3, 43_691], new Int16Array(131_073).map((_, i) => i % 977))],
  ];
  it.each(corpus.flatMap(([name, t]) => (['zstd', 'deflate', 'none'] as const).map((codec) => [name, codec, t] as const)))(
    '%s %s: bytes equal the generated encoder (pad aside), decode back, a flipped payload byte is refused',
    async (_name, codec, t) => {
      for (const attributes of [options.attributes, { big: 'x'.repeat(5000) }]) {
        const bytes = await encodeTensorFrameBytes(t, { ...options, attributes, codec });
        const expected = LTP.encode(await encodeTensorFrame(t, { ...options, attributes, codec })).finish();
        const message = LTP.decode(bytes);
        const padded = codec === 'none' && walkFields(bytes).some((f) => f.field === 2047);
        if (padded) expect(Buffer.from(LTP.encode(message).finish()).equals(Buffer.from(expected))).toBe(true);
        else expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
        expect(bytes.byteOffset).toBe(0);
        expect(bytes.buffer.byteLength - bytes.length).toBeLessThanOrEqual(4096);
        expect(sameData((await decodeTensorFrameBytes(bytes)).tensor, t)).toBe(true);
        const copy = new Uint8Array(bytes);
        copy[message.tensorZstd.byteOffset + (message.tensorZstd.length >> 1)]! ^= 0x01;
        await expectCode(decodeTensorFrameBytes(copy), 'CHECKSUM_MISMATCH');
        await expectCode(decodeTensorFrameBytes(bytes, { maxTensorBytes: t.data.byteLength - 1 }), 'FRAME_TOO_LARGE');
      }
    },
  );

  it.each(['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg'])(
    'none (frame id %s): an unknown pad field aligns the payload; without it the bytes are the generated encoder\'s',
    async (frameId) => {
      const bytes = await encodeTensorFrameBytes(tensor, { ...options, frameId, codec: 'none' });
      const expected = LTP.encode(await encodeTensorFrame(tensor, { ...options, frameId, codec: 'none' })).finish();
      const payloadAt = LTP.decode(bytes).tensorZstd.byteOffset;
      expect(payloadAt % 8).toBe(0);
      // the generic walker sees field 2047 between the header (2) and the payload (3), and nothing else extra
      const fields = walkFields(bytes);
      const pad = fields.filter((f) => f.field === 2047);
      expect(fields.map((f) => f.field).filter((n) => n !== 2047)).toEqual(walkFields(expected).map((f) => f.field));
      expect(pad.length).toBeLessThanOrEqual(1);
      const padValue = pad[0]?.value as Uint8Array | undefined;
      expect(padValue?.every((b) => b === 0) ?? true).toBe(true);
      // tag fa 7f and a one-byte length precede the pad's zero bytes
      const stripped = padValue ? Buffer.concat([bytes.subarray(0, padValue.byteOffset - 3), bytes.subarray(padValue.byteOffset + padValue.length)]) : bytes;
      expect(Buffer.from(stripped).equals(Buffer.from(expected))).toBe(true);
      const decoded = await decodeTensorFrameBytes(bytes);
      expect(sameData(decoded.tensor, tensor)).toBe(true);
      // viewed in place, not copied
      expect(decoded.tensor.data.buffer).toBe(bytes.buffer);
      // the generated decoder drops the pad: re-encoding gives the canonical bytes
      expect(Buffer.from(LTP.encode(LTP.decode(bytes)).finish()).equals(Buffer.from(expected))).toBe(true);
    },
  );

  it('an empty tensor still gets the canonical empty-payload frame', async () => {
    const tensor = createTensor('f32', [0, 4], new Float32Array(0));
    const bytes = await encodeTensorFrameBytes(tensor, { ...options, codec: 'none' });
    expect(Buffer.from(bytes).equals(Buffer.from(LTP.encode(await encodeTensorFrame(tensor, { ...options, codec: 'none' })).finish()))).toBe(true);
    expect((await decodeTensorFrameBytes(bytes)).tensor.shape).toEqual([0, 4]);
  });

  it('a misaligned uncompressed payload is copied out aligned, and a flipped byte is still caught', async () => {
    const data = new Float64Array(20_000).map((_, i) => i * 0.5);
    const f64 = createTensor('f64', [20_000], data);
    // a frame received at an odd address (e.g. inside a larger packet): the aligned payload lands misaligned
    const aligned = await encodeTensorFrameBytes(f64, { codec: 'none' });
    const packet = new Uint8Array(aligned.length + 3);
    packet.set(aligned, 3);
    const bytes = packet.subarray(3);
    const message = LTP.decode(bytes);
    expect(message.tensorZstd.byteOffset % 8).not.toBe(0);
    const decoded = await decodeTensorFrameBytes(bytes);
    expect(sameData(decoded.tensor, f64)).toBe(true);
    expect(decoded.tensor.data.buffer).not.toBe(bytes.buffer);
    bytes[message.tensorZstd.byteOffset - bytes.byteOffset + 100_000]! ^= 0x10;
    await expectCode(decodeTensorFrameBytes(bytes), 'CHECKSUM_MISMATCH');
  });
});

describe('zstd levels and checks around the codec', () => {
  const smooth = createTensor('f32', [64, 1024], new Float32Array(65_536).map((_, i) => Math.round(Math.sin(i / 1024) * 4096) / 4096));

  it('the level asked for is the level used (higher levels give smaller payloads), and each decodes', async () => {
    const sizes: number[] = [];
    for (const level of [1, 3, 19]) {
      const bytes = await encodeTensorFrameBytes(smooth, { codec: 'zstd', level });
      const message = LTP.decode(bytes);
      expect(message.compressionLevel).toBe(level);
      sizes.push(message.tensorZstd.length);
      expect(sameData((await decodeTensorFrameBytes(bytes)).tensor, smooth)).toBe(true);
    }
    expect(sizes[0]).toBeGreaterThan(sizes[1]!);
    expect(sizes[1]).toBeGreaterThan(sizes[2]!);
  });

  it('a CRC-32 mismatch is reported before any other fault of the frame, as when the CRC ran first', async () => {
    const bytes = await encodeTensorFrameBytes(smooth, { codec: 'zstd' });
    const message = LTP.decode(bytes);
    const corrupt = (m: LTP): LTP => {
      const payload = m.tensorZstd.slice();
      payload[payload.length >> 1]! ^= 0x01;
      return { ...m, tensorZstd: payload };
    };
    for (const faulty of [
      { ...message, dtype: 'f128' },
      { ...message, originalSize: 4n },
      { ...message, compressionLevel: 99 },
      { ...message, header: { ...message.header!, metadata: { ...message.header!.metadata, codec: 'lz4' } } },
    ]) {
      await expectCode(decodeTensorFrame(corrupt(faulty)), 'CHECKSUM_MISMATCH');
      await expect(decodeTensorFrame(faulty)).rejects.toThrow();
    }
    // the payload's own fault (here a block the decoder refuses or a size mismatch) also loses to the CRC-32
    await expectCode(decodeTensorFrame(corrupt(message)), 'CHECKSUM_MISMATCH');
  });
});
