// SPDX-License-Identifier: Apache-2.0
// The baseline fleet: raw mqtt.js clients on the same topics, putting on the wire the very bytes and MQTT 5 properties
// the ECPS fleet sends (captured from it), with no ECPS work at either end: the robot answers every action with the
// captured result, the manager reads the sequence number and timestamp from fixed offsets.
import { connectAsync, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { MANAGER_ID, ecpsFleet, robotPrefix } from './ecps-fleet';
import type { FleetManager, FleetRobot, FleetSide } from './fleet';

interface WireMessage {
  payload: Buffer;
  properties: NonNullable<IClientPublishOptions['properties']>;
}

export interface WireTemplates {
  telemetry: WireMessage;
  action: WireMessage;
  result: WireMessage;
}

const robotOf = (topic: string) => Number(topic.split('/')[1]!.slice('robot-'.length));

function publishOptions(message: WireMessage): IClientPublishOptions {
  return { qos: 1, properties: message.properties };
}

/** What one ECPS robot and the ECPS manager put on the wire for a telemetry sample, an action and its result. */
export async function captureWire(url: string): Promise<WireTemplates> {
  const sniffer = await connectAsync(url, { protocolVersion: 5 });
  const seen = new Map<string, WireMessage>();
  sniffer.on('message', (topic, payload, packet: IPublishPacket) => {
    const kind = topic.endsWith('/telemetry') ? 'telemetry' : topic.endsWith('/eap') ? 'action' : topic.endsWith(`/eap/result/${MANAGER_ID}`) ? 'result' : undefined;
    const { subscriptionIdentifier: _ignored, ...properties } = packet.properties ?? {};
    if (kind && !seen.has(kind)) seen.set(kind, { payload: Buffer.from(payload), properties });
  });
  await sniffer.subscribeAsync('fleet/#', { qos: 1 });
  const robot = await ecpsFleet.robot(0, url);
  const manager = await ecpsFleet.manager(url, 1, () => undefined);
  try {
    await robot.publishTelemetry(0, performance.now());
    const outcome = await manager.sendAction(0);
    if (outcome !== 'ok') throw new Error(`the ECPS robot did not act on the captured action: ${outcome}`);
    for (let i = 0; seen.size < 3 && i < 200; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    await manager.close();
    await robot.close();
    await sniffer.endAsync();
  }
  const [telemetry, action, result] = [seen.get('telemetry'), seen.get('action'), seen.get('result')];
  if (!telemetry || !action || !result) throw new Error(`captured only ${[...seen.keys()].join(', ')}`);
  return { telemetry, action, result };
}

/** Raw mqtt.js robots and manager sending the captured messages. */
export function rawFleet(wire: WireTemplates): FleetSide {
  const connect = (url: string, clientId: string): Promise<MqttClient> => connectAsync(url, { protocolVersion: 5, clientId, reconnectPeriod: 0 });
  return {
    async robot(index, url): Promise<FleetRobot> {
      const prefix = robotPrefix(index);
      const client = await connect(url, `raw-${index}`);
      client.on('message', () => void client.publish(`${prefix}eap/result/${MANAGER_ID}`, wire.result.payload, publishOptions(wire.result)));
      await client.subscribeAsync(`${prefix}eap`, { qos: 1 });
      return {
        publishTelemetry: async (seq, sentAt) => {
          const payload = Buffer.from(wire.telemetry.payload);
          payload.writeDoubleLE(seq, 0);
          payload.writeDoubleLE(sentAt, 8);
          await client.publishAsync(`${prefix}telemetry`, payload, publishOptions(wire.telemetry));
        },
        close: () => client.endAsync(),
      };
    },

    async manager(url, _size, onTelemetry): Promise<FleetManager> {
      const client = await connect(url, `raw-${MANAGER_ID}`);
      const waiting = new Map<number, (outcome: 'ok') => void>();
      client.on('message', (topic, payload) => {
        if (topic.endsWith('/telemetry')) return onTelemetry(robotOf(topic), payload.readDoubleLE(0), payload.readDoubleLE(8));
        const robot = robotOf(topic);
        waiting.get(robot)?.('ok');
        waiting.delete(robot);
      });
      await client.subscribeAsync({ 'fleet/+/telemetry': { qos: 1 }, [`fleet/+/eap/result/${MANAGER_ID}`]: { qos: 1 } });
      return {
        sendAction: (index) =>
          new Promise<'ok'>((resolve, reject) => {
            waiting.set(index, resolve);
            client.publishAsync(`${robotPrefix(index)}eap`, wire.action.payload, publishOptions(wire.action)).catch(reject);
          }),
        close: () => client.endAsync(),
      };
    },
  };
}
