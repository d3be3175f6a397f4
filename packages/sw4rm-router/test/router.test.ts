// SPDX-License-Identifier: Apache-2.0
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { AckStage, ErrorCode, HEALTH_SERVICE, MessageType, ackOf, buildAckEnvelope, createClient } from '@ecps/sw4rm';
import { DeliveryAckOutcome, Envelope } from '@ecps/sw4rm/proto';
import { Client, credentials } from '@grpc/grpc-js';
import { Sw4rmRouter, startRouter } from '../src/index';
import { Consumer, Sink, connect, data, harness, removeTmpDirs, sendRaw, status, tmpDb } from './helpers';
import type { Harness } from './helpers';

afterAll(removeTmpDirs);
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('fan-out and ACK forwarding (checklist 5, 8)', () => {
  it('one row per recipient, producer excluded, per-recipient seq from 1 strictly increasing, exact reasons', async () => {
    h = await harness();
    expect(await h.client.sendMessage({ msg: data('a') })).toEqual({ accepted: false, reason: 'No recipients available' });
    const [a, b, c] = await connect(h, 'a', 'b', 'c');
    const m1 = data('a');
    const m2 = data('a');
    expect(await h.client.sendMessage({ msg: m1 })).toEqual({ accepted: true, reason: 'Message delivered to 2 recipients' });
    expect(await h.client.sendMessage({ msg: m2 })).toEqual({ accepted: true, reason: 'Message delivered to 2 recipients' });
    await b!.waitItems(2);
    await c!.waitItems(2);
    expect(a!.items).toHaveLength(0);
    // seq is per recipient: one agent's seq values say nothing about another's traffic and cannot address its rows
    expect(b!.items.map((i) => i.seq)).toEqual([1n, 2n]);
    expect(c!.items.map((i) => i.seq)).toEqual([1n, 2n]);
    expect(b!.ids()).toEqual([m1.messageId, m2.messageId]);
    // an application ACK is forwarded like any other envelope (default ack mode: forward)
    const ack = buildAckEnvelope(b!.items[0]!.msg!, { producerId: 'b', stage: AckStage.RECEIVED });
    expect((await h.client.sendMessage({ msg: ack })).accepted).toBe(true);
    await a!.waitItems(1);
    expect(ackOf(a!.items[0]!.msg!)).toMatchObject({ ackForMessageId: m1.messageId, ackStage: AckStage.RECEIVED });
  });

  it('swallow mode accepts ACKs without rows', async () => {
    h = await harness({ ackMode: 'swallow' });
    await connect(h, 'a', 'b');
    const ack = buildAckEnvelope(data('x'), { producerId: 'b', stage: AckStage.RECEIVED });
    expect(await h.client.sendMessage({ msg: ack })).toEqual({ accepted: true, reason: 'ACK message accepted' });
    expect(h.running.router.pendingFor('a')).toEqual([]);
  });

  it('validates, limits payloads and forwards unknown envelope fields byte-for-byte', async () => {
    h = await harness({ maxPayloadBytes: 10 });
    const [, b] = await connect(h, 'a', 'b');
    expect((await h.client.sendMessage({})).reason).toBe('validation_error: msg is required');
    expect((await h.client.sendMessage({ msg: { ...data('a'), messageId: '' } })).reason).toMatch(/^validation_error: message_id/);
    expect((await h.client.sendMessage({ msg: { ...data('a'), contentLength: 99n } })).reason).toMatch(/^validation_error: content_length/);
    expect((await h.client.sendMessage({ msg: data('a', { payload: 'x'.repeat(11) }) })).reason).toBe('oversize_payload: 11 > 10');
    const env = data('a', { payload: '{}' });
    const known = Envelope.encode(env).finish();
    const unknownField = Uint8Array.from([0xc2, 0x0c, 3, 0x61, 0x62, 0x63]); // field 200, length-delimited "abc"
    const envBytes = new Uint8Array([...known, ...unknownField]);
    const request = new Uint8Array([0x0a, ...varint(envBytes.length), ...envBytes]);
    expect((await sendRaw(`127.0.0.1:${h.running.port}`, request)).accepted).toBe(true);
    // read the raw StreamItem bytes: they must carry the unknown field
    const raw = new Client(`127.0.0.1:${h.running.port}`, credentials.createInsecure());
    b!.cancel();
    const got: Buffer[] = [];
    const call = raw.makeServerStreamRequest('/sw4rm.router.RouterService/StreamIncoming', (v: Buffer) => v, (v: Buffer) => v, Buffer.from([0x0a, 1, 0x62]), {});
    call.on('data', (d: Buffer) => got.push(d));
    call.on('error', () => undefined);
    await waitFor(() => got.length > 0, 'raw item');
    call.cancel();
    raw.close();
    expect(Buffer.from(got[0]!).includes(Buffer.from(envBytes))).toBe(true);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

describe('AckDelivery (checklist 6)', () => {
  it('records only the owner acking an IN_FLIGHT row', async () => {
    h = await harness();
    const [, b] = await connect(h, 'a', 'b');
    const m = data('a');
    await h.client.sendMessage({ msg: m });
    await b!.waitItems(1);
    const seq = b!.items[0]!.seq;
    const ack = (agentId: string, s: bigint | number, outcome = 0, messageId = '') => h!.client.ackDelivery({ agentId, seq: s, outcome, messageId });
    expect((await ack('other-agent', seq)).recorded).toBe(false);
    expect((await ack('a', seq)).recorded).toBe(false); // known, but seq addresses only its own (absent) rows
    expect((await ack('', seq)).recorded).toBe(false);
    expect((await ack('b', 0)).recorded).toBe(false);
    expect((await ack('b', -1)).recorded).toBe(false);
    expect((await ack('b', seq, 999)).recorded).toBe(false);
    expect((await ack('b', seq, 0, 'not-the-id')).recorded).toBe(false);
    expect(h.running.router.pendingFor('b')).toHaveLength(1);
    expect((await ack('b', seq, 0, m.messageId)).recorded).toBe(true);
    expect((await ack('b', seq)).recorded).toBe(false);
    expect(h.running.router.pendingFor('b')).toHaveLength(0);
    // PERMANENT_FAILURE deletes too
    await h.client.sendMessage({ msg: data('a') });
    await b!.waitItems(2);
    expect((await ack('b', b!.items[1]!.seq, DeliveryAckOutcome.DELIVERY_ACK_OUTCOME_PERMANENT_FAILURE)).recorded).toBe(true);
    expect(h.running.router.pendingFor('b')).toHaveLength(0);
  });
});

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('redelivery, TTL, full queues, dedup (checklist 7, 9)', () => {
  it('replays an unacked item on reconnect with the same seq, and after the lease', async () => {
    const clock = new ManualClock();
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), clock, leaseMs: 30_000 });
    await r.addKnownAgent('a');
    await r.addKnownAgent('b');
    await r.sendMessage(Envelope.encode(data('a')).finish());
    const s1 = new Sink();
    const close1 = await r.openStream('b', s1);
    await flush();
    expect(s1.items).toHaveLength(1);
    close1();
    const s2 = new Sink();
    await r.openStream('b', s2);
    await flush();
    expect(s2.items.map((i) => i.seq)).toEqual([s1.items[0]!.seq]);
    clock.advance(29_000);
    await flush();
    expect(s2.items).toHaveLength(1);
    clock.advance(2_000);
    await flush();
    expect(s2.items.map((i) => i.seq)).toEqual([s1.items[0]!.seq, s1.items[0]!.seq]);
    // an ack for a row reset to pending is refused
    clock.advance(31_000); // lease lapses again: row PENDING, immediately re-yielded on the live stream
    await flush();
    const seq = s1.items[0]!.seq;
    // take the stream away so the row stays PENDING after the next lapse
    const s3 = new Sink();
    const close3 = await r.openStream('b', s3);
    await flush();
    close3();
    clock.advance(31_000);
    await flush();
    expect(r.pendingFor('b')).toEqual([expect.objectContaining({ seq, state: 'PENDING' })]);
    expect(await r.ackDelivery({ agentId: 'b', seq, messageId: '', outcome: 0 })).toBe(false);
    expect(s2.failed?.[0]).toBe(status.ABORTED); // superseded by s3
    await r.close();
  });

  it('rows survive restart; seq is never reused', async () => {
    const dbPath = tmpDb();
    const r1 = await Sw4rmRouter.open({ dbPath });
    await r1.addKnownAgent('a');
    await r1.addKnownAgent('b');
    const m1 = data('a');
    await r1.sendMessage(Envelope.encode(m1).finish());
    await r1.sendMessage(Envelope.encode(data('a')).finish());
    const s = new Sink();
    await r1.openStream('b', s);
    await flush();
    expect(await r1.ackDelivery({ agentId: 'b', seq: s.items[1]!.seq, messageId: '', outcome: 0 })).toBe(true);
    await r1.close();
    const r2 = await Sw4rmRouter.open({ dbPath });
    expect(r2.knownAgents()).toEqual(['a', 'b']);
    expect(r2.pendingFor('b')).toEqual([{ seq: s.items[0]!.seq, messageId: m1.messageId, state: 'PENDING' }]);
    expect((await r2.sendMessage(Envelope.encode(m1).finish())).reason).toBe(`Duplicate of ${m1.messageId} suppressed`);
    await r2.sendMessage(Envelope.encode(data('a')).finish());
    const seqs = r2.pendingFor('b').map((p) => p.seq);
    expect(seqs[1]).toBe(s.items[1]!.seq + 1n);
    await r2.close();
  });

  it('full queue: synchronous report and a BUFFER_FULL NACK to the producer', async () => {
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), maxQueue: 2, fullWaitMs: 0 });
    for (const a of ['p', 'full', 'free']) await r.addKnownAgent(a);
    await r.sendMessage(Envelope.encode(data('p')).finish());
    await r.sendMessage(Envelope.encode(data('p')).finish());
    // drain "free" so only "full" is at capacity
    const sf = new Sink();
    await r.openStream('free', sf);
    await flush();
    for (const i of sf.items) await r.ackDelivery({ agentId: 'free', seq: i.seq, messageId: '', outcome: 0 });
    const m3 = data('p');
    expect(await r.sendMessage(Envelope.encode(m3).finish())).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients; buffer_full: full' });
    await r.sendMessage(Envelope.encode(data('p')).finish()); // free: 2 rows, full: NACK #2
    const m5 = data('p');
    expect(await r.sendMessage(Envelope.encode(m5).finish())).toEqual({ accepted: false, reason: 'buffer_full: free,full' });
    // retry is possible: no dedup record was written for the refused message
    expect((await r.sendMessage(Envelope.encode(m5).finish())).reason).toBe('buffer_full: free,full');
    const sp = new Sink();
    await r.openStream('p', sp);
    await flush();
    const nacks = sp.items.map((i) => ackOf(i.env)!);
    expect(nacks[0]).toEqual({ ackForMessageId: m3.messageId, ackStage: AckStage.REJECTED, errorCode: ErrorCode.BUFFER_FULL, note: 'buffer_full: recipient full' });
    expect(sp.items[0]!.env).toMatchObject({ producerId: 'router', correlationId: m3.correlationId, messageType: MessageType.ACKNOWLEDGEMENT });
    expect(nacks).toHaveLength(2); // NACK rows are capped at the queue capacity per agent
    await r.close();
  });

  it('TTL: expired rows are never yielded and NACK the producer, offline agents included', async () => {
    const clock = new ManualClock();
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), clock });
    await r.addKnownAgent('p');
    await r.addKnownAgent('off');
    const m = data('p', { ttlMs: 1000 });
    await r.sendMessage(Envelope.encode(m).finish());
    clock.advance(1000);
    await flush();
    expect(r.pendingFor('off')).toEqual([]);
    const s = new Sink();
    await r.openStream('off', s);
    await flush();
    expect(s.items).toEqual([]);
    const sp = new Sink();
    await r.openStream('p', sp);
    await waitFor(() => sp.items.length > 0, 'TTL NACK');
    expect(ackOf(sp.items[0]!.env)).toEqual({ ackForMessageId: m.messageId, ackStage: AckStage.FAILED, errorCode: ErrorCode.TTL_EXPIRED, note: 'ttl_expired: recipient off' });
    await r.close();
  });

  it('dedups by token and message id within the window, never by sequence_number', async () => {
    const clock = new ManualClock();
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), clock, dedupWindowMs: 10_000 });
    await r.addKnownAgent('p');
    await r.addKnownAgent('c');
    const m = data('p', { idempotencyToken: 'op-1' });
    await r.sendMessage(Envelope.encode(m).finish());
    expect((await r.sendMessage(Envelope.encode(m).finish())).reason).toBe(`Duplicate of ${m.messageId} suppressed`);
    const retry = data('p', { idempotencyToken: 'op-1' });
    expect((await r.sendMessage(Envelope.encode(retry).finish())).reason).toBe(`Duplicate of ${m.messageId} suppressed`);
    expect((await r.sendMessage(Envelope.encode(data('p')).finish())).accepted).toBe(true); // same sequence_number 1
    expect(r.pendingFor('c')).toHaveLength(2);
    clock.advance(10_000);
    await flush();
    expect((await r.sendMessage(Envelope.encode(retry).finish())).reason).toBe('Message delivered to 1 recipients');
    await r.close();
  });
});

describe('stream lifetime and drain (checklist 8)', () => {
  it('an empty stream stays open until the client deadline (code 4); empty agent id is INVALID_ARGUMENT', async () => {
    h = await harness();
    const c = new Consumer(h.client, 'lonely', 500);
    await c.waitEnd();
    expect(c.error?.code).toBe(status.DEADLINE_EXCEEDED);
    const bad = new Consumer(h.client, '');
    await bad.waitEnd();
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
  });

  it('drain refuses sends, reports NOT_SERVING, still serves AckDelivery, then ends streams UNAVAILABLE', async () => {
    const running = await startRouter({ dbPath: tmpDb(), port: 0, drainGraceMs: 300 });
    const client = createClient('router', `127.0.0.1:${running.port}`);
    const a = new Consumer(client, 'a');
    const b = new Consumer(client, 'b');
    await waitFor(() => running.router.knownAgents().length === 2, 'agents');
    await client.sendMessage({ msg: data('a') });
    await b.waitItems(1);
    const stopping = running.stop();
    expect(await client.sendMessage({ msg: data('a') })).toEqual({ accepted: false, reason: 'Router service is shutting down' });
    const health = new Client(`127.0.0.1:${running.port}`, credentials.createInsecure());
    const def = HEALTH_SERVICE['Check']!;
    const st = await new Promise((resolve, reject) =>
      health.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { service: 'sw4rm.router.RouterService' }, {}, (e, v) => (e ? reject(e) : resolve(v))),
    );
    expect(st).toEqual({ status: 2 });
    health.close();
    expect((await client.ackDelivery({ agentId: 'b', seq: b.items[0]!.seq })).recorded).toBe(true);
    await stopping;
    await a.waitEnd();
    expect(a.error?.code).toBe(status.UNAVAILABLE);
    client.close();
  });
});
