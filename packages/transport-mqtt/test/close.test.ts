// SPDX-License-Identifier: Apache-2.0
// close() flushes what was accepted and says goodbye with a DISCONNECT, within a bounded wait.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { startMosquitto, waitFor, type MosquittoHandle } from '@ecps/testkit';
import { isEcpsError, type EcpsEvent, type Transport } from '@ecps/core';
import { mqttTransport } from '../src';

const brokers: MosquittoHandle[] = [];
const open: Transport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(): Promise<MosquittoHandle> {
  // notice level: Mosquitto says "disconnected" after a DISCONNECT and "closed its connection" without one
  const b = await startMosquitto({ extraConfig: ['log_type notice'] });
  brokers.push(b);
  return b;
}
const event = (n: number): EcpsEvent => ({ id: `e-${n}`, source: 'urn:ecps:t', type: 'ecps.ext.test', data: Uint8Array.of(n) });

describe('close()', () => {
  it.each([0, 1] as const)('delivers every QoS %s publish that resolved before close(), and sends DISCONNECT', async (qos) => {
    const b = await broker();
    const sub = mqttTransport({ url: b.url, nodeId: 'sub' });
    open.push(sub);
    const seen: string[] = [];
    await sub.subscribe('short', (e) => void seen.push(e.id));
    await sub.connect();
    const pub = mqttTransport({ url: b.url, nodeId: 'pub', clientId: `short-lived-${qos}` });
    await pub.connect();
    for (let i = 0; i < 5; i++) await pub.publish('short', event(i), { qos });
    await pub.close();
    await waitFor(() => seen.length === 5, 'all five events');
    expect(seen).toEqual(['e-0', 'e-1', 'e-2', 'e-3', 'e-4']);
    const gone = new RegExp(`Client short-lived-${qos} (disconnected|closed its connection)`);
    await waitFor(() => gone.test(readFileSync(join(b.dir, 'mosquitto.log'), 'utf8')), 'the broker to log the disconnect');
    const log = readFileSync(join(b.dir, 'mosquitto.log'), 'utf8');
    expect(log).toContain(`Client short-lived-${qos} disconnected`);
    expect(log).not.toContain(`Client short-lived-${qos} closed its connection`);
  });

  it('lets QoS 1 publishes still in flight when close() is called complete, and resolves them', async () => {
    const b = await broker();
    const sub = mqttTransport({ url: b.url, nodeId: 'sub' });
    open.push(sub);
    const seen: string[] = [];
    await sub.subscribe('inflight', (e) => void seen.push(e.id));
    await sub.connect();
    const pub = mqttTransport({ url: b.url, nodeId: 'pub', closeTimeoutMs: 60_000 });
    await pub.connect();
    const sent = Array.from({ length: 20 }, (_, i) => pub.publish('inflight', event(i), { qos: 1 }));
    await pub.close(); // a lost PUBACK would hold this for a minute, past the test's timeout
    expect(await Promise.allSettled(sent)).toEqual(sent.map(() => ({ status: 'fulfilled', value: undefined })));
    await waitFor(() => seen.length === 20, 'all twenty events');
  });

  it('waits for publishes still in flight, then closes even if they never complete (bounded)', async () => {
    const b = await broker();
    const pub = mqttTransport({ url: b.url, nodeId: 'pub', closeTimeoutMs: 300 });
    await pub.connect();
    await b.kill9(); // nobody will ever acknowledge
    const pending = pub.publish('x', event(1), { qos: 1 }).catch((e: unknown) => e);
    const started = Date.now();
    await pub.close();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(isEcpsError(await pending, 'CLOSED')).toBe(true);
  });
});
