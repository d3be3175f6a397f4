// SPDX-License-Identifier: Apache-2.0
// The replication scenarios over a real Mosquitto broker (started by @ecps/testkit on a loopback port).
import { afterAll, beforeAll } from '@jest/globals';
import { startMosquitto, type MosquittoHandle } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
import type { ConsistencyMode } from '../src/replication';
import { describeReplicationSuite, makeCluster } from './replication-suite';

let broker: MosquittoHandle;
let run = 0;

beforeAll(async () => {
  broker = await startMosquitto();
});

afterAll(async () => {
  await broker.stop();
});

function cluster(mode: ConsistencyMode) {
  const topicPrefix = `mep-test/${++run}/`; // each test its own topic space on the shared broker
  return makeCluster(mode, (node) => mqttTransport({ url: broker.url, nodeId: node, topicPrefix }));
}

describeReplicationSuite('MQTT (Mosquitto)', cluster, 10_000);
