// SPDX-License-Identifier: Apache-2.0
import { afterAll, expect, it } from '@jest/globals';
import { startMosquitto, type MosquittoHandle } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
import { runDemo } from '../src/demo/run-demo';
import { demoSteps } from '../src/demo/steps/index';
import { startEcps } from './run-ecps';

let mosquitto: MosquittoHandle | undefined;
afterAll(async () => {
  await mosquitto?.stop();
});

it('runs the demo over an external broker given with --broker', async () => {
  mosquitto = await startMosquitto();
  const lines: string[] = [];
  await runDemo({ broker: mosquitto.url, out: (l) => lines.push(l), steps: demoSteps.slice(0, 1) });
  expect(lines[0]).toBe(`ECPS demo over MQTT through the broker at ${mosquitto.url}`);
  expect(lines.join('\n')).toMatch(/demo complete/);
});

it('runs the demo over its embedded broker by default', async () => {
  const lines: string[] = [];
  await runDemo({ out: (l) => lines.push(l), steps: demoSteps.slice(0, 1) });
  expect(lines[0]).toMatch(/^ECPS demo over MQTT through an embedded broker at mqtt:\/\/127\.0\.0\.1:\d+ \(started for this run; --broker URL uses yours\)$/);
});

it('`ecps broker` serves MQTT until SIGINT: its URL on stdout, messages on stderr', async () => {
  const broker = startEcps(['broker', '--port', '0']);
  const url = await broker.waitForLine(/^mqtt:\/\//);
  const client = mqttTransport({ url, nodeId: 'probe', protocolVersion: 4 });
  await client.connect();
  await client.close();
  broker.child.kill('SIGINT');
  const r = await broker.exited;
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(`${url}\n`);
  expect(r.stderr).toBe(`ecps broker: MQTT 3.1.1 on ${url} (Ctrl-C to stop)\necps broker: stopped\n`);
});

it('`ecps broker` refuses a non-loopback address without --password-file: a clear message and exit code 2', async () => {
  // TEST-NET-1: never bound, so nothing is exposed even if the check were missing
  const r = await startEcps(['broker', '--host', '192.0.2.1', '--port', '0']).exited;
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^ecps broker: refusing to listen on 192\.0\.2\.1 without credentials.*\nhint: see 'ecps broker --help'\n$/);
});
