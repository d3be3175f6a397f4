// SPDX-License-Identifier: Apache-2.0
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { startMosquitto, type MosquittoHandle } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
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
});
