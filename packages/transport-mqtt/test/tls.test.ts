// SPDX-License-Identifier: Apache-2.0
// TLS and mutual TLS against a real Mosquitto, with a CA and certificates generated here by the openssl CLI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { freePort, startMosquitto, waitFor, type MosquittoHandle } from '@ecps/testkit';
import { isEcpsError, type EcpsEvent, type Transport } from '@ecps/core';
import { mqttTransport } from '../src';

const dir = mkdtempSync(join(tmpdir(), 'ecps-mqtt-tls-'));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** A key and a certificate for `cn`, signed by the test CA, with `ext` (extensions config) applied. */
function issue(name: string, cn: string, ext: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
  writeFileSync(file(`${name}.ext`), ext);
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-out', file(`${name}.crt`), '-extfile', file(`${name}.ext`));
}

let broker: MosquittoHandle;
let tlsPort: number;
let mtlsPort: number;
const open: Transport[] = [];
beforeAll(async () => {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=ECPS test CA');
  issue('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  issue('client', 'robot-1', 'extendedKeyUsage=clientAuth\n');
  tlsPort = await freePort();
  mtlsPort = await freePort();
  const tls = [`cafile ${file('ca.crt')}`, `certfile ${file('server.crt')}`, `keyfile ${file('server.key')}`];
  broker = await startMosquitto({
    extraConfig: [`listener ${tlsPort} 127.0.0.1`, ...tls, `listener ${mtlsPort} 127.0.0.1`, ...tls, 'require_certificate true'],
  });
}, 60_000);
afterAll(async () => {
  for (const t of open) await t.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

function transport(port: number, nodeId: string, tls: Parameters<typeof mqttTransport>[0]['tls']): Transport {
  const t = mqttTransport({ url: `mqtts://127.0.0.1:${port}`, nodeId, tls, connectTimeoutMs: 5000, reconnect: false });
  open.push(t);
  return t;
}

it('carries events over TLS with a trusted CA, and refuses an untrusted server', async () => {
  const ca = readFileSync(file('ca.crt'));
  const a = transport(tlsPort, 'tls-a', { ca });
  const b = transport(tlsPort, 'tls-b', { ca });
  await a.connect();
  await b.connect();
  const seen: EcpsEvent[] = [];
  await b.subscribe('secure', (e) => void seen.push(e));
  await a.publish('secure', { id: 's', source: 'urn:ecps:tls-a', type: 'ecps.ext.test', data: Uint8Array.of(1) });
  await waitFor(() => seen.length === 1, 'the event over TLS');

  const untrusting = transport(tlsPort, 'tls-c', {});
  expect(isEcpsError(await untrusting.connect().catch((e: unknown) => e), 'UNAVAILABLE')).toBe(true);
});

it('connects with a client certificate where the listener requires one, and not without', async () => {
  const ca = readFileSync(file('ca.crt'));
  const withCert = transport(mtlsPort, 'mtls-a', { ca, cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) });
  await withCert.connect();
  const without = transport(mtlsPort, 'mtls-b', { ca });
  expect(isEcpsError(await without.connect().catch((e: unknown) => e), 'UNAVAILABLE')).toBe(true);
});
