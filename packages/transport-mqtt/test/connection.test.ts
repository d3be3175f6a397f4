// SPDX-License-Identifier: Apache-2.0
// Connection life against a real Mosquitto: reconnect with backoff, resubscribe, the bounded offline queue,
// the persistent outgoing store, message expiry, credentials.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { freePort, startMosquitto, sleep, waitFor, type MosquittoHandle } from '@ecps/testkit';
import { isEcpsError, type EcpsEvent, type Transport } from '@ecps/core';
import { mqttTransport, type MqttTransportOptions } from '../src';

const brokers: MosquittoHandle[] = [];
const open: Transport[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const b of brokers.splice(0)) await b.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function broker(options?: Parameters<typeof startMosquitto>[0]): Promise<MosquittoHandle> {
  const b = await startMosquitto(options);
  brokers.push(b);
  return b;
}
function transport(options: MqttTransportOptions): Transport {
  const t = mqttTransport({ reconnectBackoff: () => 50, ...options });
  open.push(t);
  return t;
}
function event(n: number): EcpsEvent {
  return { id: `e-${n}`, source: 'urn:ecps:t', type: 'ecps.ext.test', data: Uint8Array.of(n) };
}
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('reconnect', () => {
  it.each([true, false])('reconnects with the injected backoff and resubscribes (clean session %s)', async (clean) => {
    const b = await broker();
    const attempts: number[] = [];
    const sub = transport({ url: b.url, nodeId: 'sub', clientId: `sub-${clean}`, session: { clean }, reconnectBackoff: (n) => (attempts.push(n), 30) });
    const pub = transport({ url: b.url, nodeId: 'pub' });
    await sub.connect();
    await pub.connect();
    const seen: number[] = [];
    await sub.subscribe('r/t', (e) => void seen.push(e.data[0]!));
    await b.kill9();
    await sleep(200); // several failed attempts while nothing listens
    await b.restart();
    // The broker lost every session (no persistence): delivery resumes only if the subscriber resubscribed.
    await waitFor(
      () => {
        if (seen.length === 0) void pub.publish('r/t', event(7)).catch(() => undefined);
        return seen.length > 0;
      },
      'delivery after the restart',
      10_000,
    );
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.slice(0, 2)).toEqual([1, 2]);
  });

  it('fails connect() with UNAVAILABLE when no broker answers in time, and CLOSED after close', async () => {
    const port = await freePort();
    const t = transport({ url: `mqtt://127.0.0.1:${port}`, nodeId: 'lonely', connectTimeoutMs: 300 });
    expect(isEcpsError(await rejection(t.connect()), 'UNAVAILABLE')).toBe(true);
    await t.close();
    expect(isEcpsError(await rejection(t.connect()), 'CLOSED')).toBe(true);
  });
});

describe('offline queue', () => {
  it('queues while offline up to its bound, rejects beyond it with QUEUE_FULL, then delivers everything accepted in order', async () => {
    const b = await broker();
    const sub = transport({ url: b.url, nodeId: 'sub', clientId: 'oq-sub', session: { clean: false } });
    // The publisher comes back later than the subscriber, whose session the broker lost and who must resubscribe.
    const pub = transport({ url: b.url, nodeId: 'pub', maxPendingPublishes: 3, reconnectBackoff: () => 600 });
    await sub.connect();
    await pub.connect();
    const seen: number[] = [];
    await sub.subscribe('q/t', (e) => void seen.push(e.data[0]!), { qos: 1 });
    await b.kill9();
    await sleep(100);
    const accepted = [1, 2, 3].map((n) => pub.publish('q/t', event(n), { qos: 1 }));
    const refused = await rejection(pub.publish('q/t', event(4), { qos: 1 }));
    expect(isEcpsError(refused, 'QUEUE_FULL')).toBe(true);
    expect((refused as { details: { limit: number } }).details.limit).toBe(3);
    await b.restart();
    await Promise.all(accepted);
    await pub.publish('q/t', event(5), { qos: 1 }); // room again once the queue drained
    await waitFor(() => seen.includes(5), 'the queued messages and the next one');
    expect([...new Set(seen)]).toEqual([1, 2, 3, 5]);
  });

  it('with whenQueueFull "wait", holds the publisher until there is room instead of failing', async () => {
    const b = await broker();
    const pub = transport({ url: b.url, nodeId: 'pub', maxPendingPublishes: 2, whenQueueFull: 'wait' });
    await pub.connect();
    await b.kill9();
    await sleep(100);
    let done = 0;
    const all = [1, 2, 3, 4].map((n) => pub.publish('w/t', event(n), { qos: 1 }).then(() => void done++));
    await sleep(200);
    expect(done).toBe(0);
    await b.restart();
    await Promise.all(all);
    expect(done).toBe(4);
  });

  it('rejects queued publishes with CLOSED when closed', async () => {
    const b = await broker();
    const pub = transport({ url: b.url, nodeId: 'pub' });
    await pub.connect();
    await b.kill9();
    await sleep(100);
    const pending = pub.publish('c/t', event(1), { qos: 1 });
    await pub.close();
    expect(isEcpsError(await rejection(pending), 'CLOSED')).toBe(true);
  });
});

describe('persistent outgoing store', () => {
  it('resends unacknowledged QoS 1 and 2 messages after the client is restarted', async () => {
    const b = await broker();
    const storeDir = mkdtempSync(join(tmpdir(), 'ecps-mqtt-store-'));
    dirs.push(storeDir);
    const sub = transport({ url: b.url, nodeId: 'sub', clientId: 'store-sub', session: { clean: false } });
    await sub.connect();
    const seen: number[] = [];
    await sub.subscribe('s/t', (e) => void seen.push(e.data[0]!), { qos: 2 });

    // First life: no broker answers, five messages go to the store, the process "dies" (close without delivery).
    const nowhere = `mqtt://127.0.0.1:${await freePort()}`;
    const first = mqttTransport({ url: nowhere, nodeId: 'pub', clientId: 'store-pub', storeDir, reconnect: false });
    const pending = [1, 2, 3, 4, 5].map((n) => first.publish('s/t', event(n), { qos: n === 5 ? 2 : 1 }));
    await waitFor(() => readdirSync(storeDir).filter((f) => f.endsWith('.pkt')).length === 5, 'five stored packets');
    await first.close();
    for (const p of pending) expect(await rejection(p)).toMatchObject({ code: 'CLOSED', details: { persisted: true } });
    expect(seen).toEqual([]);

    // Second life: a new client on the same store sends them on its first connection.
    const second = transport({ url: b.url, nodeId: 'pub', clientId: 'store-pub', storeDir });
    await second.connect();
    await waitFor(() => seen.length >= 5, 'the five stored messages');
    expect([...new Set(seen)]).toEqual([1, 2, 3, 4, 5]);
    await waitFor(() => readdirSync(storeDir).filter((f) => f.endsWith('.pkt')).length === 0, 'the store to empty once acknowledged');
  });
});

describe('message expiry and credentials', () => {
  it('lets the broker drop a queued message whose expiry passed, and keeps the others', async () => {
    const b = await broker();
    const sub = transport({ url: b.url, nodeId: 'sub', clientId: 'exp-sub', session: { clean: false, expirySeconds: 60 } });
    await sub.connect();
    const seen: string[] = [];
    await sub.subscribe('x/t', (e) => void seen.push(e.id), { qos: 1 });
    await sub.close();
    const pub = transport({ url: b.url, nodeId: 'pub' });
    await pub.connect();
    await pub.publish('x/t', { ...event(1), id: 'short' }, { qos: 1, expirySeconds: 1 });
    await pub.publish('x/t', { ...event(2), id: 'long' }, { qos: 1, expirySeconds: 60 });
    await sleep(2100);
    const again = transport({ url: b.url, nodeId: 'sub', clientId: 'exp-sub', session: { clean: false, expirySeconds: 60 } });
    await again.subscribe('x/t', (e) => void seen.push(e.id), { qos: 1 });
    await again.connect();
    await waitFor(() => seen.includes('long'), 'the unexpired message');
    await sleep(100);
    expect(seen).toEqual(['long']);
  });

  it('connects with a username and password, and fails with UNAUTHENTICATED on wrong ones', async () => {
    const b = await broker({ users: { robot: 's3cret' } });
    const good = transport({ url: b.url, nodeId: 'good', username: 'robot', password: 's3cret' });
    await good.connect();
    const bad = transport({ url: b.url, nodeId: 'bad', username: 'robot', password: 'nope', connectTimeoutMs: 5000 });
    expect(isEcpsError(await rejection(bad.connect()), 'UNAUTHENTICATED')).toBe(true);
    expect(isEcpsError(await rejection(bad.publish('a', event(1))), 'UNAUTHENTICATED')).toBe(true);
  });
});
