// SPDX-License-Identifier: Apache-2.0
import { afterAll, beforeAll } from '@jest/globals';
import { describeTransportConformance, startAedes, startMosquitto, type AedesHandle, type MosquittoHandle } from '@ecps/testkit';
import { mqttTransport } from '../src';

let mosquitto: MosquittoHandle;
let aedes: AedesHandle;
beforeAll(async () => {
  mosquitto = await startMosquitto();
  aedes = await startAedes();
});
afterAll(async () => {
  await mosquitto.stop();
  await aedes.stop();
});

describeTransportConformance(
  'mqtt 5 on Mosquitto',
  async () => ({
    a: mqttTransport({ url: mosquitto.url, nodeId: 'a', topicPrefix: 'ecps/test/' }),
    b: mqttTransport({ url: mosquitto.url, nodeId: 'b', topicPrefix: 'ecps/test/' }),
    teardown: async () => undefined,
  }),
  { settleMs: 50 },
);

describeTransportConformance(
  'mqtt 3.1.1 on aedes',
  async () => ({
    a: mqttTransport({ url: aedes.url, nodeId: 'a', protocolVersion: 4 }),
    b: mqttTransport({ url: aedes.url, nodeId: 'b', protocolVersion: 4 }),
    teardown: async () => undefined,
  }),
  { settleMs: 50 },
);
