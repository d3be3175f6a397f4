// SPDX-License-Identifier: Apache-2.0
// The fleet as ECPS nodes (@ecps/runtime over @ecps/transport-mqtt). Each robot has its own topic prefix
// `fleet/<id>/`: telemetry is an LTP tensor on `fleet/<id>/telemetry` (QoS 1), actions arrive on `fleet/<id>/eap`, so a
// robot receives only its own actions. The manager subscribes to `fleet/+/telemetry` and keeps one EAP endpoint per
// robot prefix on its single connection (results come back on `fleet/<id>/eap/result/fleet-manager`).
import { createEap, EapStatus, type Eap } from '@ecps/eap';
import { createTensor } from '@ecps/ltp';
import { createNode } from '@ecps/runtime';
import { mqttTransport } from '@ecps/transport-mqtt';
import type { FleetManager, FleetRobot, FleetSide } from './fleet';

export const MANAGER_ID = 'fleet-manager';
export const robotId = (index: number) => `robot-${index}`;
export const robotPrefix = (index: number) => `fleet/${robotId(index)}/`;
const ROBOT_SOURCE = 'urn:ecps:robot-';
/** The perceptual state the manager's decisions are based on (EAP requires one; its SHA-256 goes into each action). */
const SNAPSHOT = new TextEncoder().encode('fleet telemetry snapshot');

/** Robots and manager as ECPS nodes under the `cloud-fleet` profile (the one that allows MQTT). */
export const ecpsFleet: FleetSide = {
  async robot(index, url): Promise<FleetRobot> {
    const node = await createNode({
      id: robotId(index),
      profile: 'cloud-fleet',
      topicPrefix: robotPrefix(index),
      transport: ({ nodeId, topicPrefix }) => mqttTransport({ url, nodeId, topicPrefix, profile: 'cloud-fleet' }),
      ltp: { qos: 1, codec: 'none' },
      eap: { log: false },
    });
    node.eap.onAction('gripper', () => ({ grasp: 'closed' }));
    return {
      publishTelemetry: async (seq, sentAt) => {
        await node.ltp.publish('telemetry', createTensor('f64', [2], Float64Array.of(seq, sentAt)), { frameId: 'odom' });
      },
      close: () => node.close(),
    };
  },

  async manager(url, size, onTelemetry): Promise<FleetManager> {
    const node = await createNode({
      id: MANAGER_ID,
      profile: 'cloud-fleet',
      transport: ({ nodeId }) => mqttTransport({ url, nodeId, profile: 'cloud-fleet' }),
      ltp: { qos: 1, codec: 'none' },
      eap: { log: false },
    });
    const endpoints: Eap[] = [];
    try {
      await node.ltp.subscribe('fleet/+/telemetry', (received) => {
        const [seq, sentAt] = received.tensor.data as Float64Array;
        onTelemetry(Number(received.sender.slice(ROBOT_SOURCE.length)), seq!, sentAt!);
      });
      for (let i = 0; i < size; i += 100) {
        const batch = Array.from({ length: Math.min(100, size - i) }, (_, k) =>
          createEap({ transport: node.transport, nodeId: MANAGER_ID, profile: 'cloud-fleet', topicPrefix: robotPrefix(i + k), resultTimeoutMs: 30_000 }),
        );
        endpoints.push(...(await Promise.all(batch)));
      }
    } catch (error) {
      await node.close();
      throw error;
    }
    return {
      sendAction: async (index) => {
        const { result } = await endpoints[index]!.send('gripper', { command: 'CLOSE', position: 0.5, force_limit: 10 }, { to: robotId(index), snapshot: SNAPSHOT });
        return result?.status === EapStatus.EAP_STATUS_SUCCEEDED ? 'ok' : `${EapStatus[result?.status ?? 0]} ${result?.errorCode ?? ''}`.trim();
      },
      close: async () => {
        await Promise.all(endpoints.map((endpoint) => endpoint.close()));
        await node.close();
      },
    };
  },
};
