import { describe, expect, it } from '@jest/globals';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { waitFor } from '@ecps/testkit';
import { assertValidMcp, type EcpsEvent } from '@ecps/core';
import type { MCP } from '@ecps/proto';
import { createNode } from '../src/index';

describe('createNode', () => {
  it('composes two nodes that exchange typed messages as CloudEvents', async () => {
    const bus = new MemoryBus();
    const controller = await createNode({ id: 'controller', transport: ({ nodeId }) => memoryTransport({ nodeId, bus }) });
    const robot = await createNode({ id: 'robot', profile: 'edge-lite', transport: memoryTransport({ nodeId: 'robot', bus }) });
    const got: Array<{ message: MCP; event: EcpsEvent }> = [];
    await robot.subscribe('MCP', 'mcp', (message, event) => {
      assertValidMcp(message);
      got.push({ message, event });
    });
    const prompt: MCP = { spec: 'mcp/1.0', id: 'p-1', prompt: 'pick up the red cube', toolJson: new Uint8Array(), meta: { lang: 'en' } };
    const sent = await controller.publish('MCP', 'mcp', prompt);
    await waitFor(() => got.length === 1, 'the prompt');
    expect(got[0]!.message).toEqual(prompt);
    expect(got[0]!.event).toMatchObject({ id: 'p-1', source: 'urn:ecps:controller', type: 'ecps.mcp.prompt' });
    expect(sent.id).toBe('p-1');
    expect(robot.profile.name).toBe('edge-lite');
    await controller.close();
    await robot.close();
    await robot.close();
  });

  it('skips events of other types and undecodable ones without calling the handler', async () => {
    const bus = new MemoryBus();
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => void warnings.push(m) };
    const node = await createNode({ id: 'n', transport: memoryTransport({ nodeId: 'n', bus }), logger });
    const other = memoryTransport({ nodeId: 'o', bus });
    let calls = 0;
    await node.subscribe('EAP', 'eap', () => void calls++);
    const base = { id: 'x', source: 'urn:ecps:o', time: new Date().toISOString(), datacontenttype: 'application/protobuf' };
    await other.publish('eap', { ...base, type: 'ecps.ltp.ack', data: new Uint8Array([1]) });
    await other.publish('eap', { ...base, type: 'ecps.eap.action', data: Uint8Array.of(0x0a, 0xff) });
    await waitFor(() => warnings.length === 1, 'one warning');
    expect(calls).toBe(0);
    await node.close();
    await other.close();
  });

  it('resolves configuration with precedence and rejects bad ids and profiles', async () => {
    const bus = new MemoryBus();
    process.env['ECPS_PROFILE'] = 'cloud-fleet';
    try {
      const node = await createNode({ id: 'cfg', transport: memoryTransport({ nodeId: 'cfg', bus }) });
      expect(node.profile.name).toBe('cloud-fleet');
      const explicit = await createNode({ id: 'cfg2', profile: 'standard', transport: memoryTransport({ nodeId: 'cfg2', bus }) });
      expect(explicit.profile.name).toBe('standard');
      await node.close();
      await explicit.close();
    } finally {
      delete process.env['ECPS_PROFILE'];
    }
    await expect(createNode({ id: 'bad id', transport: memoryTransport({ nodeId: 'x', bus }) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(createNode({ id: 'ok', profile: 'huge' as never, transport: memoryTransport({ nodeId: 'x', bus }) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('runs layer closers in reverse order before closing the transport', async () => {
    const bus = new MemoryBus();
    const node = await createNode({ id: 'c', transport: memoryTransport({ nodeId: 'c', bus }) });
    const order: string[] = [];
    node.onClose(() => void order.push('first'));
    node.onClose(() => void order.push('second'));
    await node.close();
    expect(order).toEqual(['second', 'first']);
    await expect(node.transport.publish('t', { id: 'a', source: 's', type: 't', data: new Uint8Array() })).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
