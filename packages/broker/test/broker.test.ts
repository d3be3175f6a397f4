// SPDX-License-Identifier: Apache-2.0
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
import { startBroker, type Broker } from '../src';

const run = promisify(execFile);
const brokers: Broker[] = [];
afterAll(async () => {
  for (const b of brokers) await b.close();
});

it('carries ECPS publish/subscribe and request/reply between two MQTT 3.1.1 nodes on an ephemeral port', async () => {
  const broker = await startBroker({ port: 0 });
  brokers.push(broker);
  expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
  const a = mqttTransport({ url: broker.url, nodeId: 'a', protocolVersion: 4 });
  const b = mqttTransport({ url: broker.url, nodeId: 'b', protocolVersion: 4 });
  await a.connect();
  await b.connect();
  expect(broker.connectedClients()).toBe(2);
  const seen: EcpsEvent[] = [];
  await b.subscribe('eap', (e) => void seen.push(e));
  await b.serve('Echo.Say', (req) => ({ ...req, type: 'ecps.ext.echo' }));
  await a.publish('eap', { id: 'e', source: 'urn:ecps:a', type: 'ecps.eap.action', data: Uint8Array.of(1) });
  await waitFor(() => seen.length === 1, 'the event');
  const reply = await a.request('Echo.Say', { id: 'r', source: 'urn:ecps:a', type: 'ecps.ext.say', data: Uint8Array.of(2) }, { timeoutMs: 3000 });
  expect(reply.type).toBe('ecps.ext.echo');
  await a.close();
  await b.close();
});

it('is reachable by mosquitto_pub / mosquitto_sub (MQTT 3.1.1)', async () => {
  const broker = await startBroker({ port: 0 });
  brokers.push(broker);
  const args = ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(broker.port), '-t', 'x/y'];
  const sub = run('mosquitto_sub', [...args, '-C', '1', '-W', '10', '-q', '1']);
  await waitFor(() => broker.connectedClients() === 1, 'mosquitto_sub to connect');
  await new Promise((r) => setTimeout(r, 100));
  await run('mosquitto_pub', [...args, '-q', '1', '-m', 'hello']);
  expect((await sub).stdout.trim()).toBe('hello');
});

it('fails with UNAVAILABLE when the port is taken, and closes idempotently', async () => {
  const broker = await startBroker({ port: 0 });
  brokers.push(broker);
  let caught: unknown;
  try {
    await startBroker({ port: broker.port });
  } catch (error) {
    caught = error;
  }
  expect(isEcpsError(caught, 'UNAVAILABLE')).toBe(true);
  await broker.close();
  await broker.close();
});
