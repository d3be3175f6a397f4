// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import type { Packet } from 'mqtt';
import { FileStore, decodeWire, encodeWire, qosForType } from '../src';
import { PublishGate } from '../src/publish-gate';
import { ReceiveFlow } from '../src/receive-flow';
import { silentLogger } from '@ecps/core';

const event: EcpsEvent = {
  id: 'id-1',
  source: 'urn:ecps:a',
  type: 'ecps.eap.action',
  time: '2026-01-01T00:00:00.000Z',
  datacontenttype: 'application/protobuf',
  extensions: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', correlationid: 'c' },
  data: Uint8Array.of(1, 2, 3),
};

describe('wire', () => {
  it('round-trips binary mode (MQTT 5) and structured mode (3.1.1)', () => {
    for (const version of [4, 5] as const) {
      const wire = encodeWire(event, version);
      const back = decodeWire(wire.payload, wire.properties);
      expect({ ...back, data: [...back.data] }).toEqual({ ...event, data: [1, 2, 3] });
    }
    const v5 = encodeWire(event, 5);
    expect(v5.properties).toEqual({
      contentType: 'application/protobuf',
      userProperties: { specversion: '1.0', id: 'id-1', source: 'urn:ecps:a', type: 'ecps.eap.action', time: event.time, ...event.extensions },
    });
    expect([...v5.payload]).toEqual([1, 2, 3]);
  });

  it('takes the first of a repeated user property and rejects non-CloudEvents with DECODE_ERROR', () => {
    const back = decodeWire(Buffer.of(9), { userProperties: { specversion: '1.0', id: ['x', 'y'], source: 's', type: 't' } });
    expect(back.id).toBe('x');
    for (const [payload, props] of [
      [Buffer.from('{"__type__":"EAP","data":{}}'), undefined],
      [Buffer.from('{"__type__":"EAP"}'), { contentType: 'application/json' }],
      [Buffer.of(0xff), { userProperties: { specversion: '0.3', id: 'a', source: 's', type: 't' } }],
    ] as const) {
      let caught: unknown;
      try {
        decodeWire(payload, props);
      } catch (error) {
        caught = error;
      }
      expect(isEcpsError(caught, 'DECODE_ERROR')).toBe(true);
    }
  });
});

describe('QoS table', () => {
  it('maps MCP, MEP and EAP to 1, LTP to 0, ext types to the fallback, and honours overrides', () => {
    expect(qosForType('ecps.mcp.prompt', {}, 2)).toBe(1);
    expect(qosForType('ecps.mep.query', {}, 2)).toBe(1);
    expect(qosForType('ecps.eap.action', {}, 2)).toBe(1);
    expect(qosForType('ecps.ltp.tensor', {}, 2)).toBe(0);
    expect(qosForType('ecps.ltp.chunk', {}, 2)).toBe(0);
    expect(qosForType('ecps.ext.test', {}, 2)).toBe(2);
    expect(qosForType('ecps.ltp.tensor', { 'ecps.ltp.tensor': 1 }, 2)).toBe(1);
  });
});

describe('PublishGate', () => {
  it('rejects past its limit with QUEUE_FULL, or hands slots to waiters in order', async () => {
    const reject = new PublishGate(1, 'reject');
    expect(reject.acquire('t')).toBeUndefined();
    expect(() => reject.acquire('t')).toThrow(expect.objectContaining({ code: 'QUEUE_FULL' }) as unknown as Error);
    reject.release();
    expect(reject.acquire('t')).toBeUndefined();

    const wait = new PublishGate(1, 'wait');
    wait.acquire('t');
    const order: number[] = [];
    const one = wait.acquire('t')!.then(() => order.push(1));
    const two = wait.acquire('t')!.then(() => order.push(2));
    wait.release();
    await one;
    wait.release();
    await two;
    expect(order).toEqual([1, 2]);
    const three = wait.acquire('t')!;
    wait.close(new Error('closed'));
    await expect(three).rejects.toThrow('closed');
  });
});

describe('ReceiveFlow', () => {
  it('runs synchronous handlers in the delivering turn and holds PUBACKs behind an asynchronous one, in order', async () => {
    const acks: number[] = [];
    const flow = new ReceiveFlow({ limit: 4, logger: silentLogger, sendAck: (id) => acks.push(id) });
    const seen: string[] = [];
    let release!: () => void;
    const queue = flow.queue('t', (e) => {
      seen.push(e.id);
      if (e.id === 'slow') return new Promise<void>((resolve) => (release = resolve));
      if (e.id === 'bad') throw new Error('handler failed');
    });
    const done = () => undefined;
    flow.deliver([queue], 't', { ...event, id: 'a' }, 1, 1, done);
    flow.deliver([queue], 't', { ...event, id: 'bad' }, 1, 2, done);
    // synchronous handlers (a throwing one counts as handled) ran and were acknowledged before deliver() returned
    expect(seen).toEqual(['a', 'bad']);
    expect(acks).toEqual([1, 2]);
    flow.deliver([queue], 't', { ...event, id: 'slow' }, 1, 3, done);
    flow.deliver([queue], 't', { ...event, id: 'b' }, 1, 4, done);
    expect(seen).toEqual(['a', 'bad', 'slow']);
    expect(acks).toEqual([1, 2]);
    expect(flow.stats.queued).toBe(2);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['a', 'bad', 'slow', 'b']);
    expect(acks).toEqual([1, 2, 3, 4]);
    expect(flow.stats).toMatchObject({ queued: 0, acksPending: 0 });
  });

  it('keeps order and its count across thousands of queued events (the consumed prefix is trimmed)', async () => {
    const flow = new ReceiveFlow({ limit: 100_000, logger: silentLogger, sendAck: () => undefined });
    const seen: number[] = [];
    let gate: Promise<void> | undefined = new Promise<void>((resolve) => setTimeout(resolve, 10));
    const queue = flow.queue('t', (e) => {
      seen.push(Number(e.id));
      const wait = gate;
      gate = undefined;
      return wait;
    });
    for (let i = 0; i < 5000; i++) flow.deliver([queue], 't', { ...event, id: String(i) }, 0, undefined, () => undefined);
    expect(queue.length).toBe(4999);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(queue.length).toBe(0);
    expect(seen).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });
});

describe('FileStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-filestore-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const put = (store: FileStore, packet: Packet) => new Promise<void>((resolve, reject) => store.put(packet, (e) => (e ? reject(e) : resolve())));
  const publish = (messageId: number, payload: string): Packet =>
    ({ cmd: 'publish', topic: 't', qos: 1, dup: false, retain: false, messageId, payload: Buffer.from(payload), properties: { correlationData: Buffer.from('c') } }) as Packet;

  it('keeps packets across instances in put order, replaces by message id and forgets deleted ones', async () => {
    const first = new FileStore(dir);
    await put(first, publish(7, 'a'));
    await put(first, publish(3, 'b'));
    await put(first, publish(9, 'c'));
    await put(first, { cmd: 'pubrel', messageId: 3 } as Packet); // QoS 2 progress replaces the publish
    await new Promise<void>((resolve) => first.del({ messageId: 9 }, () => resolve()));
    await new Promise<void>((resolve) => first.close(() => resolve()));
    writeFileSync(join(dir, '999999999999-1.pkt'), '{torn'); // a torn write is skipped, not fatal

    const second = new FileStore(dir);
    const packets: Packet[] = [];
    for await (const p of second.createStream() as AsyncIterable<Packet>) packets.push(p);
    expect(packets.map((p) => [p.cmd, p.messageId])).toEqual([
      ['publish', 7],
      ['pubrel', 3],
    ]);
    const restored = packets[0] as Packet & { payload: Buffer; properties: { correlationData: Buffer } };
    expect(restored.payload.toString()).toBe('a');
    expect(restored.properties.correlationData.toString()).toBe('c');
    expect(readdirSync(dir).filter((f) => f.endsWith('.pkt'))).toHaveLength(3);
  });
});
