// SPDX-License-Identifier: Apache-2.0
// The router over TLS with caller identity: with mutual TLS the client certificate names the agent, without
// certificates a JWT of @ecps/trust does. A client cannot read another agent's stream, acknowledge its rows (with or
// without message_id), or send as another producer.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { generateTestCertificates, waitFor } from '@ecps/testkit';
import type { TestCertificates } from '@ecps/testkit';
import { clientCredentials, createClient } from '@ecps/sw4rm';
import { JwtKeyRing, issueToken } from '@ecps/trust';
import { startRouter } from '../src/index';
import type { RunningRouter } from '../src/index';
import { Consumer, data, removeTmpDirs, tmpDb } from './helpers';

afterAll(removeTmpDirs);

let pki: TestCertificates;
beforeAll(() => {
  pki = generateTestCertificates({ clientNames: ['agent-a', 'agent-b'] });
});

describe('router over mutual TLS', () => {
  let running: RunningRouter;
  afterAll(async () => running?.stop(0));

  it('binds every call to the client certificate', async () => {
    running = await startRouter({ dbPath: tmpDb(), port: 0, drainGraceMs: 0, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca }, auth: { certificates: true } });
    const address = `localhost:${running.port}`;
    const as = (cn: 'agent-a' | 'agent-b') => createClient('router', address, { credentials: clientCredentials({ ca: pki.ca, ...pki.clients[cn]! }), attempts: 1 });
    const a = as('agent-a');
    const b = as('agent-b');

    const bStream = new Consumer(b, 'agent-b');
    const aStream = new Consumer(a, 'agent-a');
    await waitFor(() => running.router.knownAgents().length === 2, 'both agents known');
    const spy = new Consumer(a, 'agent-b'); // a reading b's stream
    await spy.waitEnd();
    expect(spy.error?.code).toBe(status.PERMISSION_DENIED);
    expect(bStream.ended).toBe(false); // b's own stream was not superseded by the spy

    expect((await a.sendMessage({ msg: data('agent-a') })).accepted).toBe(true);
    await expect(a.sendMessage({ msg: data('agent-b') })).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED }); // forged producer
    await bStream.waitItems(1);
    const seq = bStream.items[0]!.seq;
    // a acks b's row with an empty message_id: refused, the row stays
    await expect(a.ackDelivery({ agentId: 'agent-b', seq })).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED });
    expect(running.router.pendingFor('agent-b')).toHaveLength(1);
    expect((await b.ackDelivery({ agentId: 'agent-b', seq })).recorded).toBe(true);

    // no client certificate, or one of another CA: no connection at all
    const anonymous = createClient('router', address, { credentials: clientCredentials({ ca: pki.ca }), attempts: 1, timeoutMs: 3000 });
    await expect(anonymous.sendMessage({ msg: data('agent-a') })).rejects.toMatchObject({ grpcCode: status.UNAVAILABLE });
    const rogue = createClient('router', address, { credentials: clientCredentials({ ca: pki.ca, cert: pki.rogue.cert, key: pki.rogue.key }), attempts: 1, timeoutMs: 3000 });
    await expect(rogue.sendMessage({ msg: data('agent-a') })).rejects.toMatchObject({ grpcCode: status.UNAVAILABLE });
    for (const c of [aStream, bStream]) c.cancel();
    for (const c of [a, b, anonymous, rogue]) c.close();
  }, 60_000);
});

describe('router with JWT identities (no client certificates)', () => {
  it('takes the agent id from a verified bearer token', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const ring = new JwtKeyRing({ kid: 'k1', alg: 'EdDSA', key: privateKey });
    await expect(startRouter({ dbPath: tmpDb(), port: 0, auth: { jwt: { ring } } })).rejects.toThrow(/issuer and audience/);
    const running = await startRouter({ dbPath: tmpDb(), port: 0, drainGraceMs: 0, auth: { jwt: { ring, issuer: 'ops', audience: 'sw4rm-router' } } });
    const address = `127.0.0.1:${running.port}`;
    const token = await issueToken({ id: 'agent-a', kind: 'service', roles: [] }, { ring, issuer: 'ops', audience: 'sw4rm-router' });
    const elsewhere = await issueToken({ id: 'agent-a', kind: 'service', roles: [] }, { ring, issuer: 'ops', audience: 'another-service' });
    const a = createClient('router', address, { metadata: { authorization: `Bearer ${token}` }, attempts: 1 });
    const nobody = createClient('router', address, { attempts: 1 });
    const forged = createClient('router', address, { metadata: { authorization: 'Bearer not.a.token' }, attempts: 1 });
    const misplaced = createClient('router', address, { metadata: { authorization: `Bearer ${elsewhere}` }, attempts: 1 });
    try {
      const own = new Consumer(a, 'agent-a');
      await waitFor(() => running.router.knownAgents().includes('agent-a'), 'agent-a known');
      const other = new Consumer(a, 'agent-b');
      await other.waitEnd();
      expect(other.error?.code).toBe(status.PERMISSION_DENIED);
      await expect(nobody.sendMessage({ msg: data('agent-a') })).rejects.toMatchObject({ grpcCode: status.UNAUTHENTICATED });
      await expect(forged.ackDelivery({ agentId: 'agent-a', seq: 1 })).rejects.toMatchObject({ grpcCode: status.UNAUTHENTICATED });
      await expect(misplaced.ackDelivery({ agentId: 'agent-a', seq: 1 })).rejects.toMatchObject({ grpcCode: status.UNAUTHENTICATED }); // a token for another audience
      expect(running.router.knownAgents()).toEqual(['agent-a']);
      own.cancel();
    } finally {
      for (const c of [a, nobody, forged, misplaced]) c.close();
      await running.stop(0);
    }
  }, 60_000);
});
