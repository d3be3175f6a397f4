// SPDX-License-Identifier: Apache-2.0
// Interop with the real mosquitto_pub / mosquitto_sub / mosquitto_rr command-line clients.
import { spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMosquitto, vectorsDir, waitFor, type MosquittoHandle } from '@ecps/testkit';
import { decodeEvent, encodeEvent } from '@ecps/serialization';
import type { EcpsEvent, Logger, Transport } from '@ecps/core';
import { mqttTransport } from '../src';

const run = promisify(execFile);
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

let broker: MosquittoHandle;
const open: Transport[] = [];
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  for (const t of open) await t.close();
  await broker.stop();
});

function transport(nodeId: string, extra: Partial<Parameters<typeof mqttTransport>[0]> = {}): Transport {
  const t = mqttTransport({ url: broker.url, nodeId, ...extra });
  open.push(t);
  return t;
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const noop = () => undefined;
  return { warnings, debug: noop, info: noop, error: noop, warn: (m, f) => void warnings.push(`${m} ${JSON.stringify(f)}`) };
}

/** Starts mosquitto_sub in debug mode and resolves once its SUBACK arrived; `lines()` gives what it printed. */
async function mosquittoSub(args: string[]) {
  // stdbuf: mosquitto_sub block-buffers stdout into a pipe, and we must see its SUBACK line at once.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(broker.port), '-d', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => out.includes('SUBACK'), 'mosquitto_sub to subscribe', 10_000);
  return { lines: () => out.split('\n'), exited };
}

describe('mosquitto_pub -> ECPS', () => {
  it('receives an MQTT 5 binary-mode EAP from mosquitto_pub as the right event and message', async () => {
    const sub = transport('cli-eap');
    await sub.connect();
    const seen: EcpsEvent[] = [];
    await sub.subscribe('eap', (e) => void seen.push(e));
    const file = join(vectorsDir(), 'eap_set_pose.bin');
    const props: Array<[string, string]> = [
      ['specversion', '1.0'],
      ['id', 'test-eap-001'],
      ['source', 'urn:ecps:cli'],
      ['type', 'ecps.eap.action'],
      ['time', '2022-01-01T00:00:00Z'],
      ['traceparent', TRACEPARENT],
    ];
    await run('mosquitto_pub', [
      ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', 'eap', '-f', file],
      ...['-D', 'PUBLISH', 'content-type', 'application/protobuf'],
      ...props.flatMap(([k, v]) => ['-D', 'PUBLISH', 'user-property', k, v]),
    ]);
    await waitFor(() => seen.length === 1, 'the EAP event');
    const event = seen[0]!;
    expect(event).toMatchObject({
      id: 'test-eap-001',
      source: 'urn:ecps:cli',
      type: 'ecps.eap.action',
      time: '2022-01-01T00:00:00Z',
      datacontenttype: 'application/protobuf',
      extensions: { traceparent: TRACEPARENT },
    });
    expect(Buffer.from(event.data).equals(readFileSync(file))).toBe(true);
    const eap = decodeEvent('EAP', event);
    expect(eap.id).toBe('test-eap-001');
    expect(eap.body?.$case).toBe('setPose');
    if (eap.body?.$case === 'setPose') expect([eap.body.value.x, eap.body.value.y, eap.body.value.frameId]).toEqual([1.5, 2, 'map']);
  });

  it('receives an MQTT 3.1.1 structured-mode event from mosquitto_pub', async () => {
    const sub = transport('cli-structured', { protocolVersion: 4 });
    await sub.connect();
    const seen: EcpsEvent[] = [];
    await sub.subscribe('mcp', (e) => void seen.push(e));
    const json = JSON.stringify({
      specversion: '1.0',
      id: 'evt-311',
      source: 'urn:ecps:cli',
      type: 'ecps.ext.test',
      datacontenttype: 'application/protobuf',
      correlationid: 'c-311',
      data_base64: Buffer.from([1, 2, 3]).toString('base64'),
    });
    await run('mosquitto_pub', ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', 'mcp', '-m', json]);
    await waitFor(() => seen.length === 1, 'the structured event');
    expect(seen[0]).toMatchObject({ id: 'evt-311', type: 'ecps.ext.test', extensions: { correlationid: 'c-311' } });
    expect([...seen[0]!.data]).toEqual([1, 2, 3]);
  });

  it('treats an MQTT 5 Content Type of application/cloudevents+json as structured mode', async () => {
    const sub = transport('cli-ct');
    await sub.connect();
    const seen: EcpsEvent[] = [];
    await sub.subscribe('ct', (e) => void seen.push(e));
    const json = JSON.stringify({ specversion: '1.0', id: 'evt-ct', source: 'urn:ecps:cli', type: 'ecps.ext.test', data_base64: 'AQI=' });
    await run('mosquitto_pub', [
      ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(broker.port), '-t', 'ct', '-m', json],
      ...['-D', 'PUBLISH', 'content-type', 'application/cloudevents+json; charset=utf-8'],
    ]);
    await waitFor(() => seen.length === 1, 'the structured event over MQTT 5');
    expect(seen[0]).toMatchObject({ id: 'evt-ct', source: 'urn:ecps:cli' });
    expect([...seen[0]!.data]).toEqual([1, 2]);
  });

  it('ignores the reference {"__type__","data"} payload and plain bytes, reports them, and keeps going', async () => {
    const logger = recordingLogger();
    const sub = transport('cli-junk', { logger });
    await sub.connect();
    const seen: EcpsEvent[] = [];
    await sub.subscribe('junk', (e) => void seen.push(e));
    const base = ['-h', '127.0.0.1', '-p', String(broker.port), '-t', 'junk'];
    await run('mosquitto_pub', [...base, '-V', 'mqttv5', '-m', JSON.stringify({ __type__: 'EAP', data: { id: 'x' } })]);
    await run('mosquitto_pub', [...base, '-V', 'mqttv311', '-m', 'not json at all']);
    await run('mosquitto_pub', [
      ...base,
      ...['-V', 'mqttv5', '-m', 'x', '-D', 'PUBLISH', 'user-property', 'specversion', '0.3'],
    ]);
    await run('mosquitto_pub', [
      ...base,
      ...['-V', 'mqttv5', '-m', 'ok', '-D', 'PUBLISH', 'user-property', 'specversion', '1.0'],
      ...['-D', 'PUBLISH', 'user-property', 'id', 'good', '-D', 'PUBLISH', 'user-property', 'source', 'urn:ecps:cli'],
      ...['-D', 'PUBLISH', 'user-property', 'type', 'ecps.ext.test'],
    ]);
    await waitFor(() => seen.length === 1, 'the valid event after the junk');
    expect(seen[0]!.id).toBe('good');
    expect(logger.warnings.filter((w) => w.startsWith('ignoring a non-CloudEvents'))).toHaveLength(3);
  });

  it('answers a mosquitto_rr request on the Response Topic it chose, echoing its Correlation Data', async () => {
    const server = transport('cli-server');
    await server.connect();
    await server.serve('Echo.Upper', (req) => ({ ...req, id: 'reply-1', source: 'urn:ecps:cli-server', data: Buffer.from(Buffer.from(req.data).toString().toUpperCase()) }));
    const { stdout } = await run('mosquitto_rr', [
      ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(broker.port), '-W', '10'],
      ...['-t', 'Echo.Upper/request', '-e', 'cli/replies/1', '-m', 'hello', '-F', '%t|%D|%P|%p'],
      ...['-D', 'PUBLISH', 'correlation-data', 'corr-42'],
      ...['-D', 'PUBLISH', 'user-property', 'specversion', '1.0', '-D', 'PUBLISH', 'user-property', 'id', 'rq-1'],
      ...['-D', 'PUBLISH', 'user-property', 'source', 'urn:ecps:cli', '-D', 'PUBLISH', 'user-property', 'type', 'ecps.ext.test'],
    ]);
    const [topic, correlation, userProps, payload] = stdout.trim().split('|');
    expect(topic).toBe('cli/replies/1');
    expect(correlation).toBe('corr-42');
    expect(userProps).toContain('correlationid:corr-42');
    expect(payload).toBe('HELLO');
  });
});

describe('ECPS -> mosquitto_sub', () => {
  it('publishes binary mode that mosquitto_sub -F sees with every property, QoS and no retain', async () => {
    const sub = await mosquittoSub(['-V', 'mqttv5', '-q', '1', '-t', 'eap', '-C', '1', '-W', '10', '-F', 'MSG|%t|%q|%r|%C|%E|%P|%x']);
    const pub = transport('ecps-pub');
    await pub.connect();
    const data = new Uint8Array(readFileSync(join(vectorsDir(), 'eap_set_pose.bin')));
    const event: EcpsEvent = {
      id: 'test-eap-001',
      source: 'urn:ecps:ecps-pub',
      type: 'ecps.eap.action',
      time: '2022-01-01T00:00:00.000Z',
      datacontenttype: 'application/protobuf',
      extensions: { traceparent: TRACEPARENT, tracestate: 'k=v' },
      data,
    };
    await pub.publish('eap', event, { expirySeconds: 0.4 });
    await sub.exited;
    const line = sub.lines().find((l) => l.startsWith('MSG|'))!;
    const [, topic, qos, retain, contentType, expiry, userProps, hex] = line.split('|');
    expect([topic, qos, retain, contentType, expiry]).toEqual(['eap', '1', '0', 'application/protobuf', '1']);
    for (const prop of [
      'specversion:1.0',
      'id:test-eap-001',
      'source:urn:ecps:ecps-pub',
      'type:ecps.eap.action',
      'time:2022-01-01T00:00:00.000Z',
      `traceparent:${TRACEPARENT}`,
      'tracestate:k=v',
    ]) {
      expect(userProps).toContain(prop);
    }
    expect(userProps).not.toContain('ce-');
    expect(hex).toBe(Buffer.from(data).toString('hex'));
  });

  it('publishes LTP at QoS 0 by the table and follows a per-type override', async () => {
    const sub = await mosquittoSub(['-V', 'mqttv5', '-q', '1', '-t', 'perception/#', '-C', '2', '-W', '10', '-F', 'MSG|%t|%q']);
    const plain = transport('ltp-plain');
    const strict = transport('ltp-strict', { qosByType: { 'ecps.ltp.tensor': 1 } });
    await plain.connect();
    await strict.connect();
    const ltp = { id: 'l', source: 'urn:ecps:x', type: 'ecps.ltp.tensor', data: new Uint8Array(4) };
    await plain.publish('perception/a', ltp);
    await strict.publish('perception/b', ltp);
    await sub.exited;
    const got = sub.lines().filter((l) => l.startsWith('MSG|')).sort();
    expect(got).toEqual(['MSG|perception/a|0', 'MSG|perception/b|1']);
  });

  it('sets Response Topic and Correlation Data on requests, prefixed', async () => {
    const sub = await mosquittoSub(['-V', 'mqttv5', '-t', 'fleet/Nobody.Home/request', '-C', '1', '-W', '10', '-F', 'MSG|%R|%D|%E']);
    const client = transport('rq', { topicPrefix: 'fleet/' });
    await client.connect();
    const request = client.request('Nobody.Home', encodeEvent('Ack', { success: true, message: 'x' }, { source: 'urn:ecps:rq' }), { timeoutMs: 1500 });
    await sub.exited;
    await expect(request).rejects.toMatchObject({ code: 'TIMEOUT' });
    const [, responseTopic, correlation, expiry] = sub.lines().find((l) => l.startsWith('MSG|'))!.split('|');
    expect(responseTopic).toBe(`fleet/response/${correlation}`);
    expect(correlation).toMatch(/^[0-9a-f-]{36}$/);
    expect(expiry).toBe('2');
  });

  it('publishes structured mode on MQTT 3.1.1', async () => {
    const sub = await mosquittoSub(['-V', 'mqttv311', '-t', 'mcp', '-C', '1', '-W', '10', '-F', '%p']);
    const pub = transport('pub311', { protocolVersion: 4 });
    await pub.connect();
    await pub.publish('mcp', { id: 'm-1', source: 'urn:ecps:pub311', type: 'ecps.mcp.prompt', extensions: { correlationid: 'c' }, data: Uint8Array.of(9, 9) });
    await sub.exited;
    const json = JSON.parse(sub.lines().find((l) => l.startsWith('{'))!) as Record<string, string>;
    expect(json).toEqual({
      specversion: '1.0',
      id: 'm-1',
      source: 'urn:ecps:pub311',
      type: 'ecps.mcp.prompt',
      datacontenttype: 'application/protobuf',
      correlationid: 'c',
      data_base64: 'CQk=',
    });
  });
});
