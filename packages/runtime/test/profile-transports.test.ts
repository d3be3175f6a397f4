// SPDX-License-Identifier: Apache-2.0
// The conformance profiles' allowed transports are enforced (spec §8): edge-lite dds; standard dds, grpc;
// cloud-fleet dds, grpc, mqtt. The in-process memory transport never leaves the process and is always allowed.
import { describe, expect, it } from '@jest/globals';
import { isEcpsError, type Transport } from '@ecps/core';
import { grpcTransport } from '@ecps/transport-grpc';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { mqttTransport } from '@ecps/transport-mqtt';
import { createNode } from '../src/index';

async function refusal(run: () => Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> } | undefined> {
  try {
    const node = (await run()) as { close(): Promise<void> };
    await node.close();
    return undefined;
  } catch (error) {
    if (!isEcpsError(error)) throw error;
    return { code: error.code, details: { ...error.details } };
  }
}

describe('createNode enforces the profile\'s transports', () => {
  it('refuses a transport the profile does not list, naming both, before connecting', async () => {
    const mqtt = () => mqttTransport({ url: 'mqtt://127.0.0.1:1', nodeId: 'arm' });
    const grpc = () => grpcTransport({ target: '127.0.0.1:1', nodeId: 'arm' });
    expect(await refusal(() => createNode({ id: 'arm', profile: 'standard', transport: mqtt() }))).toEqual({
      code: 'CONFIG_INVALID',
      details: { profile: 'standard', transport: 'mqtt', allowed: ['dds', 'grpc'] },
    });
    expect(await refusal(() => createNode({ id: 'arm', profile: 'edge-lite', transport: grpc() }))).toMatchObject({
      code: 'CONFIG_INVALID',
      details: { profile: 'edge-lite', transport: 'grpc' },
    });
    // a factory's transport is closed again when it is refused
    let made: Transport | undefined;
    await refusal(() => createNode({ id: 'arm', profile: 'edge-lite', transport: () => (made = grpc()) }));
    await expect(made!.connect()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('accepts what the profile lists, and the in-process memory transport under every profile', async () => {
    const bus = new MemoryBus();
    for (const profile of ['edge-lite', 'standard', 'cloud-fleet'] as const) {
      expect(await refusal(() => createNode({ id: `n-${profile}`, profile, transport: memoryTransport({ nodeId: `n-${profile}`, bus }) }))).toBeUndefined();
    }
    // mqtt under cloud-fleet passes the check (and then fails to connect: nothing listens on port 1)
    const outcome = await refusal(() => createNode({ id: 'arm', profile: 'cloud-fleet', transport: mqttTransport({ url: 'mqtt://127.0.0.1:1', nodeId: 'arm', connectTimeoutMs: 500 }) }));
    expect(outcome?.code).not.toBe('CONFIG_INVALID');
  });
});
