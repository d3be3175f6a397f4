// SPDX-License-Identifier: Apache-2.0
// A node's identity at the router is bound to its connection: no second hello for a connected id, certificate
// names under mutual TLS, and per-node topic ACLs (issue 12).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { generateTestCertificates, sleep, testEvent, waitFor, type TestCertificates } from '@ecps/testkit';
import { grpcBusServer, grpcTransport, type GrpcBusServer, type GrpcTransport } from '../src/index';

async function connectError(t: GrpcTransport): Promise<string | undefined> {
  try {
    await t.connect();
    return undefined;
  } catch (error) {
    return isEcpsError(error) ? error.code : String(error);
  }
}

describe('grpc bus: one connection per node id', () => {
  let server: GrpcBusServer;
  beforeAll(async () => {
    server = await grpcBusServer();
  });
  afterAll(async () => server.close());

  it('refuses a second hello with an id that is connected, and the first node keeps its connection', async () => {
    const arm = grpcTransport({ target: server.address, nodeId: 'arm' });
    const impostor = grpcTransport({ target: server.address, nodeId: 'arm', connectTimeoutMs: 3000, reconnectDelayMs: { initial: 50, max: 50 } });
    const planner = grpcTransport({ target: server.address, nodeId: 'planner' });
    try {
      await arm.connect();
      await planner.connect();
      const seen: EcpsEvent[] = [];
      await arm.subscribe('cmd/arm', (e) => void seen.push(e));
      expect(await connectError(impostor)).toBe('ALREADY_EXISTS');
      await sleep(200); // the impostor keeps retrying; none of it may disturb the real node
      await planner.publish('cmd/arm', testEvent('urn:ecps:planner'));
      await waitFor(() => seen.length === 1, 'delivery to the first node');
      expect(arm.connected).toBe(true);
      expect(arm.stats.reconnects).toBe(0);
      expect(server.router.stats.connections).toBe(2);
    } finally {
      await impostor.close();
      await arm.close();
      await planner.close();
    }
  });

  it('refuses publish and subscribe on a stream that has not said hello', async () => {
    const grpc = await import('@grpc/grpc-js');
    const { BusClientFrame, BusServerFrame, BusService } = await import('@ecps/proto/ext/v1');
    const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const stream = client.makeBidiStreamRequest(
      BusService.connect.path,
      (f: import('@ecps/proto/ext/v1').BusClientFrame) => Buffer.from(BusClientFrame.encode(f).finish()),
      (b: Buffer) => BusServerFrame.decode(b),
    );
    const acks: Array<{ seq: bigint; code: string }> = [];
    stream.on('data', (f: import('@ecps/proto/ext/v1').BusServerFrame) => {
      if (f.frame?.$case === 'ack') acks.push({ seq: f.frame.value.seq, code: f.frame.value.code });
    });
    stream.on('error', () => undefined);
    stream.write({ frame: { $case: 'subscribe', value: { seq: 1n, subscriptionId: 1, filter: '#', qos: 1 } } });
    stream.write({ frame: { $case: 'publish', value: { seq: 2n, topic: 'x', qos: 1, event: { id: '1', source: 'urn:ecps:x', type: 't', time: '', datacontenttype: '', extensions: {}, data: new Uint8Array(0) } } } });
    await waitFor(() => acks.length === 2, 'both refusals');
    expect(acks).toEqual([
      { seq: 1n, code: 'UNAUTHENTICATED' },
      { seq: 2n, code: 'UNAUTHENTICATED' },
    ]);
    stream.cancel();
    client.close();
  });
});

describe('grpc bus: identities under mutual TLS and topic ACLs', () => {
  let pki: TestCertificates;
  let server: GrpcBusServer;
  beforeAll(async () => {
    pki = generateTestCertificates({ clientNames: ['arm', 'planner'] });
    server = await grpcBusServer({
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requireClientCert: true },
      acl: {
        arm: { publish: ['fleet/arm/#'], subscribe: ['cmd/arm/#'] },
        planner: { publish: ['cmd/#'], subscribe: ['fleet/+/state'] },
      },
    });
  });
  afterAll(async () => server.close());

  const node = (nodeId: string, cert: { cert: string; key: string }, extra: Partial<Parameters<typeof grpcTransport>[0]> = {}) =>
    grpcTransport({ target: `localhost:${server.port}`, nodeId, tls: { ca: pki.ca, ...cert }, connectTimeoutMs: 3000, ...extra });

  it('binds the node id to the client certificate', async () => {
    const impostor = node('planner', pki.clients['arm']!);
    const plain = node('client', pki.client); // a valid certificate, but no node id in it matches an ACL entry
    try {
      expect(await connectError(impostor)).toBe('UNAUTHENTICATED');
      expect(await connectError(plain)).toBeUndefined(); // its CN is its identity
    } finally {
      await impostor.close();
      await plain.close();
    }
  });

  it('enforces per-node topic ACLs on publish and subscribe (PERMISSION_DENIED)', async () => {
    const arm = node('arm', pki.clients['arm']!);
    const planner = node('planner', pki.clients['planner']!);
    try {
      await arm.connect();
      await planner.connect();
      const states: string[] = [];
      await planner.subscribe('fleet/+/state', (_e, topic) => void states.push(topic));
      await arm.publish('fleet/arm/state', testEvent('urn:ecps:arm'));
      await waitFor(() => states.length === 1, 'an allowed publish');
      await expect(arm.publish('fleet/leg/state', testEvent('urn:ecps:arm'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      await expect(arm.subscribe('cmd/#', () => undefined)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      await expect(planner.subscribe('fleet/#', () => undefined)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      const commands: string[] = [];
      await arm.subscribe('cmd/arm/+', (_e, topic) => void commands.push(topic));
      await planner.publish('cmd/arm/grip', testEvent('urn:ecps:planner'));
      await waitFor(() => commands.length === 1, 'an allowed subscription');
      await sleep(50);
      expect(states).toEqual(['fleet/arm/state']);
      // a node without an ACL entry may do nothing
      const stranger = node('client', pki.client);
      await stranger.connect();
      await expect(stranger.publish('fleet/arm/state', testEvent('urn:ecps:client'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      await stranger.close();
    } finally {
      await arm.close();
      await planner.close();
    }
  });
});
