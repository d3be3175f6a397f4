// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { EVENT_TYPES, LTP_DTYPES, type LtpCodecName, type LtpDtype } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { transferWithChunkLoss } from './big-transfer';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createLtp, createTensor, numberToF16, type Ltp, type ReceivedTensor, type Tensor, type TensorArrays } from '../src/index';

function sampleTensor(dtype: LtpDtype, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const pick = <D extends LtpDtype>(d: D, data: TensorArrays[D]) => createTensor(d, shape, data);
  switch (dtype) {
    case 'f16':
      return pick('f16', new Uint16Array(n).map((_, i) => numberToF16(i / 3 - 5)));
    case 'f32':
      return pick('f32', new Float32Array(n).map((_, i) => Math.cos(i) * 1e3));
    case 'f64':
      return pick('f64', new Float64Array(n).map((_, i) => Math.sqrt(i) - 1e-300));
    case 'i8':
      return pick('i8', new Int8Array(n).map((_, i) => (i % 256) - 128));
    case 'u8':
      return pick('u8', new Uint8Array(n).map((_, i) => i % 251));
    case 'i16':
      return pick('i16', new Int16Array(n).map((_, i) => i * 37 - 30000));
    case 'u16':
      return pick('u16', new Uint16Array(n).map((_, i) => i * 37));
    case 'i32':
      return pick('i32', new Int32Array(n).map((_, i) => i * -1_000_003));
    case 'u32':
      return pick('u32', new Uint32Array(n).map((_, i) => i * 4_000_037));
    case 'i64':
      return pick('i64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * -(2n ** 60n) / 7n));
    case 'u64':
      return pick('u64', BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 2n ** 61n + 3n));
    case 'bool':
      return pick('bool', new Uint8Array(n).map((_, i) => i % 3 & 1));
  }
}

describe('createLtp over the memory transport', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  function pair(options: { maxChunkSize?: number } = {}) {
    const bus = new MemoryBus();
    const camTransport = memoryTransport({ nodeId: 'cam', bus });
    const sinkTransport = memoryTransport({ nodeId: 'sink', bus });
    const sender = createLtp({
      transport: camTransport,
      nodeId: 'cam',
      ...(options.maxChunkSize ? { maxChunkSize: options.maxChunkSize } : {}),
    });
    const receiver = createLtp({ transport: sinkTransport, nodeId: 'sink', ...(options.maxChunkSize ? { maxChunkSize: options.maxChunkSize } : {}) });
    closers.push(async () => {
      await sender.close();
      await receiver.close();
      await camTransport.close();
      await sinkTransport.close();
    });
    return { sender, receiver, bus };
  }

  async function collect(receiver: Ltp, topic: string) {
    const received: ReceivedTensor[] = [];
    const errors: unknown[] = [];
    const sub = await receiver.subscribe(topic, (t) => void received.push(t), { onError: (e) => void errors.push(e) });
    return { received, errors, sub };
  }

  const dtypes = Object.keys(LTP_DTYPES) as LtpDtype[];
  const codecs: LtpCodecName[] = ['zstd', 'deflate', 'none'];

  it.each(codecs)('round-trips every dtype as DATA frames and as chunks with %s', async (codec) => {
    const { sender, receiver } = pair({ maxChunkSize: 4096 });
    const { received, errors } = await collect(receiver, 'perception/t');
    const sent: Tensor[] = [];
    for (const dtype of dtypes) {
      for (const shape of [[2, 3], [64, 64], []]) {
        const tensor = sampleTensor(dtype, shape);
        sent.push(tensor);
        await sender.publish('perception/t', tensor, { frameId: `f-${dtype}`, codec, timestampNs: 5n });
      }
    }
    await waitFor(() => received.length === sent.length, 'all tensors');
    expect(errors).toEqual([]);
    received.forEach((r, i) => {
      const expected = sent[i]!;
      expect(r.tensor.dtype).toBe(expected.dtype);
      expect(r.tensor.shape).toEqual(expected.shape);
      expect(Array.from(r.tensor.data as ArrayLike<unknown>)).toEqual(Array.from(expected.data as ArrayLike<unknown>));
      expect(r).toMatchObject({ frameId: `f-${expected.dtype}`, timestampNs: 5n, codec, sender: 'urn:ecps:cam' });
    });
    // the 64×64 tensors of 2+ bytes per element do not fit 4 KiB uncompressed: some went as chunks
    if (codec === 'none') expect(received.some((r) => r.reassembled)).toBe(true);
    expect(sender.stats().retainedBytes).toBe(0); // every chunked tensor was acked ok
  });

  it('counts a rejected frame and keeps going', async () => {
    const bus = new MemoryBus();
    const raw = memoryTransport({ nodeId: 'evil', bus });
    const { receiver } = { receiver: createLtp({ transport: memoryTransport({ nodeId: 'sink', bus }), nodeId: 'sink' }) };
    const { received, errors } = await collect(receiver, 't');
    await raw.publish('t', { id: '1', source: 'urn:ecps:evil', type: EVENT_TYPES.ltp, data: new Uint8Array([0x0a, 0x07, 0x6c, 0x74, 0x70, 0x2f, 0x39, 0x2e, 0x39]) });
    const good = createLtp({ transport: raw, nodeId: 'evil' });
    await good.publish('t', sampleTensor('u8', [3]));
    await waitFor(() => received.length === 1, 'good tensor');
    expect(errors).toEqual([expect.objectContaining({ code: 'UNSUPPORTED_VERSION' })]);
    await good.close();
    await receiver.close();
    await raw.close();
  });

  it('transfers a 64 MiB tensor with 1% of chunk events dropped, through selective retransmission', async () => {
    const bus = new MemoryBus();
    const cam = memoryTransport({ nodeId: 'cam', bus });
    const sink = memoryTransport({ nodeId: 'sink', bus });
    closers.push(async () => {
      await cam.close();
      await sink.close();
    });
    await transferWithChunkLoss(cam, sink, 11);
  }, 120_000);
});
