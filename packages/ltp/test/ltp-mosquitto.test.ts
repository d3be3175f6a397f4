// SPDX-License-Identifier: Apache-2.0
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMosquitto, waitFor, type MosquittoHandle } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
import { createLtp, createTensor, type ReceivedTensor } from '../src/index';
import { transferWithChunkLoss } from './big-transfer';

describe('LTP over a real Mosquitto', () => {
  let broker: MosquittoHandle;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('transfers a 64 MiB tensor with 1% of chunk events dropped, through selective retransmission', async () => {
    const cam = mqttTransport({ url: broker.url, nodeId: 'cam' });
    const sink = mqttTransport({ url: broker.url, nodeId: 'sink' });
    await cam.connect();
    await sink.connect();
    try {
      await transferWithChunkLoss(cam, sink, 11);
    } finally {
      await cam.close();
      await sink.close();
    }
  }, 180_000);

  it('a short-lived publisher loses none of its last tensors (QoS 0 DATA frames, transport closed at once)', async () => {
    const sink = mqttTransport({ url: broker.url, nodeId: 'sink-short' });
    const received: ReceivedTensor[] = [];
    const subscriber = createLtp({ transport: sink, nodeId: 'sink-short' });
    await subscriber.subscribe('perception/last', (t) => void received.push(t));
    await sink.connect();
    const cam = mqttTransport({ url: broker.url, nodeId: 'cam-short' });
    const ltp = createLtp({ transport: cam, nodeId: 'cam-short' });
    try {
      await cam.connect();
      for (let i = 0; i < 5; i++) await ltp.publish('perception/last', createTensor('u8', [16], new Uint8Array(16).fill(i)), { frameId: `f${i}` });
      await ltp.close();
      await cam.close(); // at once: the process is about to exit
      await waitFor(() => received.length === 5, 'all five tensors');
      expect(received.map((t) => t.frameId)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
    } finally {
      await subscriber.close();
      await sink.close();
    }
  });
});
