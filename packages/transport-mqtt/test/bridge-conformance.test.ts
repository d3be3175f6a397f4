// SPDX-License-Identifier: Apache-2.0
// The transport conformance suite with the two nodes on different Mosquittos, joined through a hub by MQTT 5 bridges
// (leaf A ↔ hub ↔ leaf B, every topic both ways): publish/subscribe, wildcards, ordering, request/reply and streams
// all work across bridges, with every CloudEvents attribute intact (the bridges carry the MQTT 5 properties).
import { afterAll, beforeAll } from '@jest/globals';
import { describeTransportConformance, startMosquittoBridge, type MosquittoBridgeHandle } from '@ecps/testkit';
import { mqttTransport } from '../src';

let bridge: MosquittoBridgeHandle;
beforeAll(async () => {
  bridge = await startMosquittoBridge({ brokers: 3 });
});
afterAll(async () => {
  await bridge.stop();
});

describeTransportConformance(
  'mqtt 5 across two bridged Mosquittos',
  async () => ({
    a: mqttTransport({ url: bridge.leaves[0]!.url, nodeId: 'a', topicPrefix: 'ecps/test/' }),
    b: mqttTransport({ url: bridge.leaves[1]!.url, nodeId: 'b', topicPrefix: 'ecps/test/' }),
    teardown: async () => undefined,
  }),
  { settleMs: 50 },
);
