// SPDX-License-Identifier: Apache-2.0
// A broker reachable from the network requires credentials; with credentials, only those users get in.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { mqttTransport } from '@ecps/transport-mqtt';
import { startBroker, type Broker, type BrokerOptions } from '../src';
import { isLoopbackHost } from '../src/broker';

const brokers: Broker[] = [];
const dir = mkdtempSync(join(tmpdir(), 'ecps-broker-creds-'));
afterAll(async () => {
  for (const b of brokers) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(options: BrokerOptions): Promise<unknown> {
  return startBroker(options).then(
    (b) => {
      brokers.push(b);
      throw new Error('the broker started');
    },
    (e: unknown) => e,
  );
}

/** Connects with the given credentials and publishes/receives one event; resolves to the connect error, if any. */
async function tryClient(url: string, username?: string, password?: string): Promise<unknown> {
  const client = mqttTransport({ url, nodeId: 'probe', protocolVersion: 4, reconnect: false, connectTimeoutMs: 3000, ...(username ? { username, password } : {}) });
  try {
    await client.connect();
    const seen: EcpsEvent[] = [];
    await client.subscribe('t', (e) => void seen.push(e));
    await client.publish('t', { id: 'x', source: 'urn:ecps:probe', type: 'ecps.ext.test', data: Uint8Array.of(1) });
    await waitFor(() => seen.length === 1, 'the echo');
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await client.close();
  }
}

describe('credentials', () => {
  // 192.0.2.1 is TEST-NET-1: never bound here, so no test ever exposes a port to the network
  it('refuses to start on a non-loopback address without credentials, before binding anything', async () => {
    for (const host of ['192.0.2.1', '0.0.0.0', '::']) {
      const error = await refusal({ host, port: 0 });
      expect(isEcpsError(error, 'CONFIG_INVALID')).toBe(true);
      expect((error as Error).message).toContain('without credentials');
    }
  });

  it('passes the check with credentials on a non-loopback address (binding TEST-NET then fails as UNAVAILABLE)', async () => {
    const error = await refusal({ host: '192.0.2.1', port: 0, users: { alice: 'pw' } });
    expect(isEcpsError(error, 'UNAVAILABLE')).toBe(true);
  });

  it('knows loopback', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'robot.local', '128.0.0.1'].some(isLoopbackHost)).toBe(false);
  });

  it('admits only the users given in code', async () => {
    const broker = await startBroker({ port: 0, users: { alice: 's3cret' } });
    brokers.push(broker);
    expect(await tryClient(broker.url, 'alice', 's3cret')).toBeUndefined();
    expect(isEcpsError(await tryClient(broker.url, 'alice', 'wrong'), 'UNAUTHENTICATED')).toBe(true);
    expect(isEcpsError(await tryClient(broker.url, 'mallory', 's3cret'), 'UNAUTHENTICATED')).toBe(true);
    expect(isEcpsError(await tryClient(broker.url), 'UNAUTHENTICATED')).toBe(true);
  });

  it('admits the users of a password file made by mosquitto_passwd (PBKDF2 and SHA-512 forms)', async () => {
    const file = join(dir, 'passwords');
    writeFileSync(file, '');
    execFileSync('mosquitto_passwd', ['-b', file, 'alice', 'pbkdf2 pass']);
    execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'bob', 'sha pass']);
    const broker = await startBroker({ port: 0, passwordFile: file });
    brokers.push(broker);
    expect(await tryClient(broker.url, 'alice', 'pbkdf2 pass')).toBeUndefined();
    expect(await tryClient(broker.url, 'bob', 'sha pass')).toBeUndefined();
    expect(isEcpsError(await tryClient(broker.url, 'bob', 'pbkdf2 pass'), 'UNAUTHENTICATED')).toBe(true);
  });

  it('refuses a password file it cannot use', async () => {
    const file = join(dir, 'bad');
    writeFileSync(file, 'alice:plaintext\n');
    expect(isEcpsError(await refusal({ port: 0, passwordFile: file }), 'CONFIG_INVALID')).toBe(true);
    expect(isEcpsError(await refusal({ port: 0, passwordFile: join(dir, 'missing') }), 'CONFIG_INVALID')).toBe(true);
  });
});
