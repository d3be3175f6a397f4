// SPDX-License-Identifier: Apache-2.0
// The receive path against a real Mosquitto: bounded subscription queues that stop reading from the broker,
// QoS 1 acknowledged only once the handler finished, the size limit enforced on receive, and replies that never
// leave the topic prefix.
import { afterEach, describe, expect, it } from '@jest/globals';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { startMosquitto, waitFor, type MosquittoHandle } from '@ecps/testkit';
import type { EcpsEvent, Logger } from '@ecps/core';
import { encodeWire, mqttTransport, type MqttTransport, type MqttTransportOptions } from '../src';

const brokers: MosquittoHandle[] = [];
const open: MqttTransport[] = [];
const raw: MqttClient[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const c of raw.splice(0)) await c.endAsync(true);
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(): Promise<MosquittoHandle> {
  const b = await startMosquitto();
  brokers.push(b);
  return b;
}
function transport(options: MqttTransportOptions): MqttTransport {
  const t = mqttTransport({ reconnectBackoff: () => 50, ...options });
  open.push(t);
  return t;
}
async function rawClient(url: string, protocolVersion: 4 | 5 = 5): Promise<MqttClient> {
  const client = mqttConnect(url, { protocolVersion, reconnectPeriod: 0 });
  raw.push(client);
  await new Promise<void>((resolve, reject) => (client.once('connect', () => resolve()), client.once('error', reject)));
  return client;
}
function event(n: number, data: Uint8Array = Uint8Array.of(n & 0xff)): EcpsEvent {
  return { id: `e-${n}`, source: 'urn:ecps:t', type: 'ecps.ext.test', data };
}
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const noop = () => undefined;
  return { warnings, debug: noop, info: noop, error: noop, warn: (m) => void warnings.push(m) };
}

describe('bounded receive queue with backpressure', () => {
  it('a slow handler makes the transport stop reading instead of queuing without bound; nothing is lost', async () => {
    const b = await broker();
    const sub = transport({ url: b.url, nodeId: 'sub', receiveQueueLimit: 16 });
    const pub = transport({ url: b.url, nodeId: 'pub' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    await sub.subscribe('flood', async (e) => {
      await gate;
      seen.push(e.id);
    });
    await sub.connect();
    await pub.connect();
    const total = 3000;
    const payload = new Uint8Array(512);
    for (let i = 0; i < total; i++) await pub.publish('flood', event(i, payload), { qos: 0 });
    await waitFor(() => sub.stats().paused, 'the subscriber to stop reading', 10_000);
    expect(sub.stats().peakQueued).toBeLessThanOrEqual(16);
    release();
    await waitFor(() => seen.length === total, `all ${total} events`, 20_000);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `e-${i}`));
    expect(sub.stats()).toMatchObject({ paused: false, queued: 0 });
    expect(sub.stats().pauses).toBeGreaterThan(0);
  }, 40_000);
});

describe('QoS 1 is acknowledged after the handler', () => {
  it('a subscriber stopped in the middle of its handler gets the message again in its next session', async () => {
    const b = await broker();
    const session = { clean: false, expirySeconds: 60 };
    const first = transport({ url: b.url, nodeId: 'worker', clientId: 'worker-1', session });
    let started = false;
    await first.subscribe('jobs', () => {
      started = true;
      return new Promise<void>(() => undefined); // still working when the process goes away
    }, { qos: 1 });
    await first.connect();
    const pub = transport({ url: b.url, nodeId: 'pub' });
    await pub.publish('jobs', event(1), { qos: 1 });
    await waitFor(() => started, 'the handler to start');
    await first.close();

    const second = transport({ url: b.url, nodeId: 'worker', clientId: 'worker-1', session });
    const seen: string[] = [];
    await second.subscribe('jobs', (e) => void seen.push(e.id), { qos: 1 });
    await waitFor(() => seen.length === 1, 'the redelivery', 10_000);
    expect(seen).toEqual(['e-1']);
  });

  it('acknowledges once every handler finished, in receipt order, so the broker forgets handled messages', async () => {
    const b = await broker();
    const session = { clean: false, expirySeconds: 60 };
    const first = transport({ url: b.url, nodeId: 'worker', clientId: 'worker-2', session });
    const seen: string[] = [];
    await first.subscribe('jobs', async (e) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.push(e.id);
    }, { qos: 1 });
    await first.subscribe('jobs', (e) => void seen.push(`second ${e.id}`), { qos: 1 });
    const pub = transport({ url: b.url, nodeId: 'pub' });
    for (let i = 0; i < 20; i++) await pub.publish('jobs', event(i), { qos: 1 });
    await waitFor(() => seen.length === 40 && first.stats().acksPending === 0, 'every handler and every PUBACK');
    await first.close();
    const second = transport({ url: b.url, nodeId: 'worker', clientId: 'worker-2', session });
    const again: string[] = [];
    await second.subscribe('jobs', (e) => void again.push(e.id), { qos: 1 });
    await second.connect();
    await pub.publish('jobs', event(99), { qos: 1 });
    await waitFor(() => again.length > 0, 'the next message');
    expect(again).toEqual(['e-99']);
  });

  it('sends the PUBACKs of messages handled in one turn together, not one socket write each', async () => {
    const b = await broker();
    const sub = transport({ url: b.url, nodeId: 'sub' });
    let received = 0;
    await sub.subscribe('burst', () => void received++, { qos: 1 });
    await sub.connect();
    const socket = (sub as unknown as { client: { stream: { _write: (...a: unknown[]) => void; _writev?: (...a: unknown[]) => void } } }).client.stream;
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      const original = socket[name]!.bind(socket);
      socket[name] = (...args: unknown[]) => {
        writes++;
        original(...args);
      };
    }
    const pub = await rawClient(b.url);
    const total = 400;
    const { payload, properties } = encodeWire(event(0), 5);
    await Promise.all(Array.from({ length: total }, () => pub.publishAsync('burst', Buffer.from(payload), { qos: 1, properties })));
    await waitFor(() => received === total && sub.stats().acksPending === 0, 'every message handled');
    await new Promise((resolve) => setImmediate(resolve));
    // one write per PUBACK before: 400; together, about one per read of the socket
    expect(writes).toBeLessThan(total / 4);
  });
});

describe('the size limit on receive', () => {
  it.each([4, 5] as const)('drops a message over the profile limit (MQTT %s) and delivers the next', async (protocolVersion) => {
    const b = await broker();
    const logger = recordingLogger();
    const sub = transport({ url: b.url, nodeId: 'sub', protocolVersion, profile: 'edge-lite', logger });
    const pub = transport({ url: b.url, nodeId: 'pub', protocolVersion, profile: 'cloud-fleet' });
    const seen: EcpsEvent[] = [];
    await sub.subscribe('big', (e) => void seen.push(e), { qos: 1 });
    await sub.connect();
    await pub.publish('big', event(1, new Uint8Array(200 * 1024)), { qos: 1 });
    await pub.publish('big', event(2), { qos: 1 });
    await waitFor(() => seen.length === 1, 'the small event');
    expect(seen.map((e) => e.id)).toEqual(['e-2']);
    // MQTT 5: the broker drops it for us (Maximum Packet Size); 3.1.1 has no such property, so we drop it
    if (protocolVersion === 4) {
      expect(sub.stats().droppedTooLarge).toBe(1);
      expect(logger.warnings).toContain('dropping a message over the size limit');
    }
  });
});

describe('replies stay under the topic prefix', () => {
  it('ignores a Response Topic outside the prefix and answers on the prefixed reply topic', async () => {
    const b = await broker();
    const logger = recordingLogger();
    const server = transport({ url: b.url, nodeId: 'srv', topicPrefix: 'ecps/site/', logger });
    await server.serve('Echo.Say', (req) => ({ ...req, id: 'reply', source: 'urn:ecps:srv' }));
    await server.connect();
    const spy = await rawClient(b.url);
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    await spy.subscribeAsync('#', { qos: 1 });
    const requester = await rawClient(b.url);
    const wire = encodeWire(event(1), 5);
    const ask = (responseTopic: string, correlation: string) =>
      requester.publishAsync('ecps/site/Echo.Say/request', wire.payload, {
        qos: 1,
        properties: { ...wire.properties, responseTopic, correlationData: Buffer.from(correlation) },
      });
    await ask('victim/commands', 'c-1');
    await ask('ecps/site/custom/replies', 'c-2');
    await waitFor(() => seen.includes('ecps/site/response/c-1') && seen.includes('ecps/site/custom/replies'), 'both replies');
    expect(seen).not.toContain('victim/commands');
    expect(logger.warnings).toContain('ignoring a Response Topic outside the topic prefix');
  });
});
