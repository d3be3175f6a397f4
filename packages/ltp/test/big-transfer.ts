// SPDX-License-Identifier: Apache-2.0
// The acceptance test, shared by the memory and Mosquitto variants: a 64 MiB tensor crosses a transport
// whose sender drops 1% of chunk events, and arrives intact through selective retransmission.
import { expect } from '@jest/globals';
import { EVENT_TYPES, type Transport } from '@ecps/core';
import { faultyTransport, waitFor } from '@ecps/testkit';
import { createLtp, createTensor, type ReceivedTensor } from '../src/index';

export async function transferWithChunkLoss(senderTransport: Transport, receiverTransport: Transport, seed: number): Promise<void> {
  const faulty = faultyTransport(senderTransport, { seed, dropRate: 0.01, match: (e) => e.type === EVENT_TYPES.ltpChunk });
  // generous timers and rounds: on a loaded CI machine this must not become a timing test
  const sender = createLtp({ transport: faulty, nodeId: 'cam', retainMs: 60_000, retryCount: 3 });
  const receiver = createLtp({ transport: receiverTransport, nodeId: 'sink', reassembly: { timeoutMs: 60_000 } });
  try {
    const received: ReceivedTensor[] = [];
    const errors: unknown[] = [];
    const sub = await receiver.subscribe('perception/big', (t) => void received.push(t), { onError: (e) => void errors.push(e) });
    const n = 16 * 1024 * 1024;
    const data = new Float32Array(n);
    // sensor-like noise (xorshift32): compresses only a little, so the payload spans many chunks
    let x = 2463534242;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = (x >>> 8) / 2 ** 24;
    }
    const result = await sender.publish('perception/big', createTensor('f32', [16, 1024, 1024], data), { frameId: 'camera' });
    expect(result.chunks).toBeGreaterThan(40);
    await waitFor(() => received.length === 1, 'the 64 MiB tensor', 60_000);
    expect(errors).toEqual([]);
    expect(faulty.faults.dropped).toBeGreaterThanOrEqual(1);
    expect(sender.stats().chunksRepeated).toBeGreaterThanOrEqual(faulty.faults.dropped);
    const got = received[0]!;
    expect(got).toMatchObject({ reassembled: true, totalChunks: result.chunks, frameId: 'camera', sender: 'urn:ecps:cam' });
    expect(got.tensor.shape).toEqual([16, 1024, 1024]);
    expect(Buffer.compare(Buffer.from((got.tensor.data as Float32Array).buffer), Buffer.from(data.buffer))).toBe(0);
    expect(sub.stats()).toMatchObject({ completed: 1, bufferedBytes: 0, timeouts: 0 });
    await waitFor(() => sender.stats().acksOk === 1, 'the ok ack');
  } finally {
    await sender.close();
    await receiver.close();
  }
}
