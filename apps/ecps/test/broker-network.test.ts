// SPDX-License-Identifier: Apache-2.0
import { afterAll, expect, it, jest } from '@jest/globals';
import { Command } from 'commander';
import { startMosquitto, waitFor, type MosquittoHandle } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
import { registerBroker } from '../src/commands/broker';
import { runDemo } from '../src/demo/run-demo';
import { demoSteps } from '../src/demo/steps/index';

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
  expect(lines[0]).toMatch(/^ECPS demo over MQTT through an embedded broker at mqtt:\/\/127\.0\.0\.1:\d+$/);
});

it('`ecps broker` serves MQTT until SIGINT', async () => {
  const printed: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((line: unknown) => void printed.push(String(line)));
  try {
    const program = new Command('ecps').exitOverride();
    registerBroker(program);
    const running = program.parseAsync(['broker', '--port', '0'], { from: 'user' });
    await waitFor(() => printed.length > 0, 'the broker to start');
    const url = /on (mqtt:\/\/\S+)/.exec(printed[0]!)![1]!;
    const client = mqttTransport({ url, nodeId: 'probe', protocolVersion: 4 });
    await client.connect();
    await client.close();
    process.emit('SIGINT');
    await running;
    expect(printed.at(-1)).toBe('ecps broker: stopped');
  } finally {
    log.mockRestore();
  }
});

it('`ecps broker` refuses a non-loopback address without --password-file: a clear message and exit code 2', async () => {
  const errors: string[] = [];
  const error = jest.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
  try {
    const program = new Command('ecps').exitOverride();
    registerBroker(program);
    // TEST-NET-1: never bound, so nothing is exposed even if the check were missing
    await program.parseAsync(['broker', '--host', '192.0.2.1', '--port', '0'], { from: 'user' });
    expect(process.exitCode).toBe(2);
    expect(errors).toEqual([expect.stringContaining('ecps broker: refusing to listen on 192.0.2.1 without credentials')]);
  } finally {
    process.exitCode = undefined;
    error.mockRestore();
  }
});
