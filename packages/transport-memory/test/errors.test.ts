// SPDX-License-Identifier: Apache-2.0
// Nothing fails silently: handler errors and RPC replies that cannot be sent reach the logger (and the requester),
// and a served request whose handler hangs gets an error reply at its deadline.
import { describe, expect, it } from '@jest/globals';
import { ManualClock, isEcpsError, type EcpsEvent, type Logger } from '@ecps/core';
import { MemoryBus, memoryTransport } from '../src/index';

function recordingLogger(): Logger & { warnings: Array<{ message: string; fields?: Record<string, unknown> }> } {
  const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  const noop = () => undefined;
  return { warnings, debug: noop, info: noop, error: noop, warn: (message, fields) => void warnings.push({ message, fields }) };
}

const event = (id: string, data = new Uint8Array(1)): EcpsEvent => ({ id, source: 'urn:ecps:t', type: 'ecps.ext.test', data });
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('memory transport: errors reach the logger', () => {
  it('reports a throwing handler at warn, counts it, and keeps delivering', async () => {
    const bus = new MemoryBus();
    const logger = recordingLogger();
    const node = memoryTransport({ nodeId: 'n', bus, logger });
    const seen: string[] = [];
    await node.subscribe('t/+', (e) => {
      if (e.id === 'bad') throw new Error('handler broke');
      seen.push(e.id);
    });
    await node.publish('t/a', event('bad'));
    await node.publish('t/a', event('good'));
    await settle();
    expect(seen).toEqual(['good']);
    expect(bus.stats.handlerErrors).toBe(1);
    expect(logger.warnings).toEqual([
      { message: 'subscription handler failed', fields: { filter: 't/+', topic: 't/a', error: 'Error: handler broke' } },
    ]);
    await node.close();
  });

  it('a reply too large to send is logged and reaches the requester as an error, not as a timeout', async () => {
    const bus = new MemoryBus();
    const logger = recordingLogger();
    const server = memoryTransport({ nodeId: 's', bus, logger, maxPayloadSize: 1024 });
    const client = memoryTransport({ nodeId: 'c', bus });
    await server.serve('Big.Reply', () => event('r', new Uint8Array(4096)));
    let error: unknown;
    await client.request('Big.Reply', event('q'), { timeoutMs: 60_000 }).catch((e: unknown) => (error = e));
    expect(isEcpsError(error, 'REMOTE_ERROR')).toBe(true);
    expect((error as { details: Record<string, unknown> }).details['remoteCode']).toBe('MESSAGE_TOO_LARGE');
    expect(logger.warnings.map((w) => w.message)).toEqual(['rpc: reply not sent']);
    await server.close();
    await client.close();
  });

  it('a hung handler hits its deadline: the requester gets TIMEOUT from the server, the late reply is dropped', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const logger = recordingLogger();
    const server = memoryTransport({ nodeId: 's', bus, logger, clock, handlerTimeoutMs: 100 });
    const client = memoryTransport({ nodeId: 'c', bus, clock });
    const replies: EcpsEvent[] = [];
    await client.subscribe('response/+', (e) => void replies.push(e));
    let finish!: (reply: EcpsEvent) => void;
    let started = false;
    await server.serve('Slow.Op', () => {
      started = true;
      return new Promise<EcpsEvent>((resolve) => (finish = resolve));
    });
    let error: unknown;
    const pending = client.request('Slow.Op', event('q'), { timeoutMs: 10_000 }).catch((e: unknown) => (error = e));
    while (!started) await settle();
    clock.advance(100);
    await pending;
    expect(isEcpsError(error, 'REMOTE_ERROR')).toBe(true);
    expect((error as { details: Record<string, unknown> }).details['remoteCode']).toBe('TIMEOUT');
    finish(event('late'));
    await settle();
    await settle();
    expect(replies.map((r) => r.type)).toEqual(['ecps.stream.end']);
    expect(logger.warnings.map((w) => w.message)).toEqual(['rpc: handler missed its deadline', 'rpc: late reply dropped']);
    await server.close();
    await client.close();
  });
});
