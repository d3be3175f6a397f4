import { describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { sleep, waitFor } from '@ecps/testkit';
import type { MCP } from '@ecps/proto';
import { KeyDirectory, SoftwareKeyProvider, softwareTrust, type TrustError } from '@ecps/trust';
import { createNode } from '../src/index';

describe('createNode with a trust layer', () => {
  it('signs and checks every message at AUTHENTICATED; an intruder is rejected', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecps-runtime-trust-'));
    try {
      const bus = new MemoryBus();
      const keys = new KeyDirectory();
      const fleet = new SoftwareKeyProvider();
      const fleetKey = await fleet.generateKey('fleet', 'x25519');
      const sealing = { recipient: { keyId: 'fleet', algorithm: 'x25519' as const, publicKey: fleetKey.publicKey! }, provider: fleet };
      const rejected: TrustError[] = [];
      const trust = (keyDir: KeyDirectory) =>
        softwareTrust({ level: 'authenticated', keys: keyDir, sealing, onReject: (e) => rejected.push(e) });
      const withKeyFile = (id: string, keyDir: KeyDirectory) =>
        softwareTrust({ level: 'authenticated', keys: keyDir, keyFile: join(dir, `${id}.key`), passphrase: 'pw', kdf: { N: 2 ** 12 }, sealing, onReject: (e) => rejected.push(e) });
      const controller = await createNode({ id: 'controller', transport: memoryTransport({ nodeId: 'controller', bus }), trust: withKeyFile('controller', keys) });
      const robot = await createNode({ id: 'robot', transport: memoryTransport({ nodeId: 'robot', bus }), trust: withKeyFile('robot', keys) });
      const intruder = await createNode({ id: 'intruder', transport: memoryTransport({ nodeId: 'intruder', bus }), trust: withKeyFile('intruder', new KeyDirectory()) });
      expect(robot.trustLevel).toBe(2);
      const got: string[] = [];
      await robot.subscribe('MCP', 'mcp', (m) => void got.push(m.id));
      const prompt = (id: string): MCP => ({ spec: 'mcp/1.0', id, prompt: 'pick', toolJson: new Uint8Array(), meta: {} });
      await controller.publish('MCP', 'mcp', prompt('from-controller'));
      await intruder.publish('MCP', 'mcp', prompt('from-intruder'));
      await waitFor(() => got.length === 1 && rejected.length === 1, 'one delivery, one rejection');
      await sleep(50);
      expect(got).toEqual(['from-controller']);
      expect(rejected.map((e) => e.code)).toEqual(['KEY_NOT_FOUND']);
      await expect(createNode({ id: 'nokey', transport: memoryTransport({ nodeId: 'nokey', bus }), trust: trust(keys) })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      for (const n of [controller, robot, intruder]) await n.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('passes admit through: an enrolled sender is rejected (not-admitted) until the gate admits it', async () => {
    const bus = new MemoryBus();
    const keys = new KeyDirectory();
    const admitted = new Set<string>();
    const rejected: TrustError[] = [];
    const identity = async (id: string) => {
      const provider = new SoftwareKeyProvider();
      await provider.generateKey(`${id}-signing`, 'ed25519');
      return provider;
    };
    const controller = await createNode({
      id: 'controller',
      transport: memoryTransport({ nodeId: 'controller', bus }),
      trust: softwareTrust({ level: 'authenticated', keys, provider: await identity('controller'), confidentiality: false, admit: (p) => admitted.has(p), onReject: (e) => rejected.push(e) }),
    });
    const robot = await createNode({
      id: 'robot',
      transport: memoryTransport({ nodeId: 'robot', bus }),
      trust: softwareTrust({ level: 'authenticated', keys, provider: await identity('robot'), confidentiality: false }),
    });
    const got: string[] = [];
    await controller.subscribe('MCP', 'mcp', (m) => void got.push(m.id));
    const prompt = (id: string): MCP => ({ spec: 'mcp/1.0', id, prompt: 'pick', toolJson: new Uint8Array(), meta: {} });
    await robot.publish('MCP', 'mcp', prompt('before'));
    await waitFor(() => rejected.length === 1, 'rejection before admission');
    expect(rejected[0]).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'not-admitted', principal: 'robot' } });
    admitted.add('robot');
    await robot.publish('MCP', 'mcp', prompt('after'));
    await waitFor(() => got.length === 1, 'delivery once admitted');
    expect(got).toEqual(['after']);
    for (const n of [controller, robot]) await n.close();
  });
});
