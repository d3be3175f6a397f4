// SPDX-License-Identifier: Apache-2.0
// Three nodes form a cell over real MQTT (the embedded @ecps/broker on an ephemeral loopback port), on the system
// clock with short beacon and tick intervals; elections keep their specified 5 s window.
import { afterAll, describe, expect, it } from '@jest/globals';
import { systemClock } from '@ecps/core';
import type { Transport } from '@ecps/core';
import { startBroker } from '@ecps/broker';
import { CapabilityType as T } from '@ecps/peat';
import { mqttTransport } from '@ecps/transport-mqtt';
import { waitFor } from '@ecps/testkit';
import { NodeOrchestrator, transportMedium } from '../src/index';

const transports: Transport[] = [];
const nodes: NodeOrchestrator[] = [];
let broker: Awaited<ReturnType<typeof startBroker>> | undefined;

afterAll(async () => {
  for (const n of nodes) n.stop();
  for (const t of transports) await t.close();
  await broker?.close();
});

describe('the node over MQTT', () => {
  it('three nodes discover each other, form one cell, elect one leader and become operational; garbage is dropped', async () => {
    broker = await startBroker({ port: 0 });
    const ids = ['node-a', 'node-b', 'node-c'];
    const byNode = new Map(ids.map((id) => [id, mqttTransport({ url: broker!.url, nodeId: id, protocolVersion: 4, connectTimeoutMs: 10_000 })]));
    transports.push(...byNode.values());
    for (const t of transports) await t.connect();
    const medium = transportMedium({ meshId: 'mqtt-test', transportFor: (id) => byNode.get(id)! });
    for (const [i, id] of ids.entries()) {
      nodes.push(
        new NodeOrchestrator({
          clock: systemClock,
          medium,
          position: { latitude: 48.85 + i * 1e-5, longitude: 2.35, altitude: 0 },
          timings: { beaconIntervalMs: 300, tickMs: 200, statePublishMs: 500 },
          config: {
            id,
            platform_type: 'ugv',
            comm_range_m: 1000,
            max_speed_mps: 5,
            created_at: 0,
            capabilities: [
              { id: `${id}-radio`, name: 'radio', capability_type: T.COMMUNICATION, confidence: 0.9, metadata: {}, registered_at: 0 },
              { id: `${id}-eo`, name: 'eo', capability_type: T.SENSOR, confidence: 0.85, metadata: {}, registered_at: 0 },
            ],
            operator_binding: { operators: [{ id: `op-${id}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 }], platform_ids: [id], binding_type: 'direct', bound_at: 0 },
          },
        }),
      );
    }
    for (const n of nodes) n.start();
    await waitFor(() => nodes.every((n) => n.state === 'operational'), 'an operational cell', 20_000);
    expect(new Set(nodes.map((n) => n.cellId)).size).toBe(1);
    expect(new Set(nodes.map((n) => n.leader?.node_id))).toEqual(new Set(['node-c']));
    // garbage published on the topic is dropped and changes nothing
    const rogue = mqttTransport({ url: broker.url, nodeId: 'rogue', protocolVersion: 4 });
    transports.push(rogue);
    await rogue.connect();
    await rogue.publish('peat/v1/mqtt-test/node', { id: 'x', source: 'urn:ecps:rogue', type: 'ecps.ext.peat.node', data: new TextEncoder().encode('{nope') });
    await waitFor(() => medium.stats.dropped === 3, 'the garbage to be dropped by all three', 5_000);
    expect(nodes.every((n) => n.state === 'operational')).toBe(true);
  }, 40_000);
});
