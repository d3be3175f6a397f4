// SPDX-License-Identifier: Apache-2.0
// Peat over gRPC streams on loopback: three nodes (one listening, two dialling it and each other) authenticate
// with the mutual handshake, converge in both directions with signed changes, and recover after a dropped stream.
import { afterEach, describe, expect, it } from '@jest/globals';
import { MutualHandshake, PeatReplica, identityFromKeyProvider, meshTransport } from '@ecps/peat';
import { SoftwareKeyProvider } from '@ecps/trust';
import { decodePeatFrame, encodePeatFrame, grpcMeshLink } from '../src/index';
import type { GrpcMeshLink } from '../src/index';

const SECRET = Buffer.alloc(32, 3).toString('base64');
const keys = new SoftwareKeyProvider();
let seq = 0;
let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function node(listen: boolean, peers: string[]) {
  const keyId = `g${seq++}`;
  await keys.generateKey(keyId, 'ed25519');
  const identity = await identityFromKeyProvider(keys, keyId);
  const link = grpcMeshLink({ nodeId: identity.nodeId, ...(listen ? { listen: { port: 0 } } : {}), peers, reconnectMs: 100 });
  const transport = meshTransport({ link, handshake: new MutualHandshake({ formationId: 'grpc', formationSecret: SECRET, identity }), announceMs: 0, heartbeatMs: 500 });
  const replica = await PeatReplica.open({ transport, identity, antiEntropyMs: 300 });
  await replica.start();
  stops.push(() => replica.stop());
  return { replica, link: link as GrpcMeshLink, id: identity.nodeId };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('peat.v1.Mesh/Stream', () => {
  it('PeatFrame encoding round-trips and skips unknown fields', () => {
    for (const n of [0, 1, 127, 128, 300, 70_000]) {
      const data = new Uint8Array(n).map((_, i) => i & 0xff);
      expect(decodePeatFrame(encodePeatFrame(data))).toEqual(data);
    }
    // field 2 (varint 5) before field 1
    expect(decodePeatFrame(new Uint8Array([0x10, 0x05, 0x0a, 0x02, 7, 8]))).toEqual(new Uint8Array([7, 8]));
    expect(() => decodePeatFrame(new Uint8Array([0x0a, 0x05, 1]))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });

  it('three nodes authenticate over gRPC and converge in both directions with signed changes', async () => {
    const hub = await node(true, []);
    const a = await node(true, [hub.link.address!]);
    const b = await node(false, [hub.link.address!, a.link.address!]);
    const all = [hub, a, b];
    await until('mesh', () => all.every((n) => n.replica.peers().length === 2));
    await b.replica.put('events', 'e', { from: 'b' });
    await until('b → all', async () => (await Promise.all(all.map((n) => n.replica.get('events', 'e')))).every((v) => v?.['from'] === 'b'));
    await hub.replica.put('events', 'e', { from: 'hub' });
    await until('hub → all', async () => (await Promise.all(all.map((n) => n.replica.get('events', 'e')))).every((v) => v?.['from'] === 'hub'));
    expect(all.every((n) => n.replica.stats.rejected === 0)).toBe(true);
  });

  it('a dialled stream that drops is dialled again and sync resumes', async () => {
    const hub = await node(true, []);
    const a = await node(false, [hub.link.address!]);
    await until('connected', () => a.replica.peers().length === 1);
    // restart the listener on the same port: the client's stream ends and it dials again
    const port = Number(hub.link.address!.split(':')[1]);
    await hub.replica.stop();
    stops = stops.filter((_, i) => i !== 0);
    const keyId = `g${seq++}`;
    await keys.generateKey(keyId, 'ed25519');
    const identity = await identityFromKeyProvider(keys, keyId);
    const link = grpcMeshLink({ nodeId: identity.nodeId, listen: { port } });
    const replica = await PeatReplica.open({ transport: meshTransport({ link, handshake: new MutualHandshake({ formationId: 'grpc', formationSecret: SECRET, identity }), announceMs: 0 }), identity, antiEntropyMs: 300 });
    await replica.start();
    stops.push(() => replica.stop());
    await a.replica.put('events', 'after', { v: 1 });
    await until('resynced', async () => (await replica.get('events', 'after'))?.['v'] === 1);
  });
});
