// Write batching: consecutive writes to one writer in a turn of the event loop reach Cyclone in one native call.
// Order is kept across writers and around samples too large to batch, a batch that meets a congested reader parks
// its tail behind what went out, and neither the pending-write bound nor per-write errors are weakened.
import { describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent, type QosLevel } from '@ecps/core';
import { sleep, waitFor } from '@ecps/testkit';
import { encodeEnvelope } from '../src/envelope-cdr';
import type { DdsTransport } from '../src/index';
import { loadBinding, SAMPLE_TYPES } from '../src/native';
import { DOMAINS } from './domains';
import { testNodes } from './support/nodes';

const domainId = DOMAINS.batching;
const event = (i: number, data: Uint8Array = Uint8Array.of(i & 0xff)): EcpsEvent => ({ id: `b-${i}`, source: 'urn:ecps:pub', type: 'ecps.ext.test', data });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `b-${i}`);

const { node } = testNodes(domainId);

/** A subscriber recording ids in arrival order; with `gated`, its handler waits until `release()`. */
async function subscriber(sub: DdsTransport, topic: string, gated = false) {
  let release!: () => void;
  const gate = gated ? new Promise<void>((resolve) => (release = resolve)) : undefined;
  const seen: string[] = [];
  await sub.subscribe(topic, async (e) => {
    seen.push(e.id);
    if (gate) await gate;
  });
  await sleep(100);
  return { seen, release: () => release() };
}

describe('write batching', () => {
  it('hands a turn of writes to Cyclone in few native calls, keeping the order across two writers of one topic', async () => {
    const pub = await node('pub');
    const sub = await node('sub', { receiveQueueLimit: 4096, historyLimit: 8192 });
    const { seen } = await subscriber(sub, 'batch/order');
    const n = 2000;
    // qos 1 and qos 2 are two writers (volatile and transient-local): runs of one interleaved with the other
    const level = (i: number): QosLevel => (Math.floor(i / 97) % 2 === 0 ? 1 : 2);
    await Promise.all(Array.from({ length: n }, (_, i) => pub.publish('batch/order', event(i), { qos: level(i) })));
    await waitFor(() => seen.length === n, `${n} deliveries`, 20_000);
    expect(seen).toEqual(ids(n));
    const { writeBatches, published } = pub.stats();
    expect(published).toBe(n);
    expect(writeBatches).toBeGreaterThan(0);
    expect(writeBatches).toBeLessThan(n / 10);
  });

  it('keeps the order around samples too large for a batch and around writes that fail on their own', async () => {
    const pub = await node('pub', { maxPayloadSize: 600 * 1024 });
    const sub = await node('sub', { maxPayloadSize: 600 * 1024, receiveQueueLimit: 4096 });
    const { seen } = await subscriber(sub, 'batch/mixed');
    const big = new Uint8Array(300 * 1024).fill(7);
    const results = await Promise.allSettled(
      Array.from({ length: 400 }, (_, i) => {
        if (i === 100) return pub.publish('batch/mixed', { ...event(i), data: new Uint8Array(700 * 1024) }); // too large
        if (i === 200) return pub.publish('batch/mixed', { ...event(i), type: 'ecps.ext.\0' }); // NUL: no envelope
        return pub.publish('batch/mixed', event(i, i % 50 === 0 ? big : undefined));
      }),
    );
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual([
      'MESSAGE_TOO_LARGE',
      'INVALID_ARGUMENT',
    ]);
    await waitFor(() => seen.length === 398, '398 deliveries', 20_000);
    expect(seen).toEqual(ids(400).filter((id) => id !== 'b-100' && id !== 'b-200'));
  });

  it('parks the tail of a batch that meets a congested reader, answers its writes once all are out, loses nothing', async () => {
    const limits = { receiveQueueLimit: 16, historyLimit: 64 };
    const pub = await node('pub', limits);
    const sub = await node('sub', limits);
    const { seen, release } = await subscriber(sub, 'batch/parked', true);
    const n = 600;
    let settled = 0;
    const sends = Array.from({ length: n }, (_, i) => pub.publish('batch/parked', event(i)).finally(() => settled++));
    await sleep(300);
    const held = pub.stats();
    expect(held.pendingWrites).toBeGreaterThan(0);
    expect(held.writeBatches).toBeGreaterThan(0);
    expect(settled).toBe(0); // the first batch's writes are answered only when its parked tail is written
    expect(sub.stats().queued).toBeLessThanOrEqual(limits.receiveQueueLimit);
    release();
    await Promise.all(sends);
    await waitFor(() => seen.length === n, `${n} deliveries`, 20_000);
    expect(seen).toEqual(ids(n));
    expect(sub.stats().samplesRejected).toBe(0);
    expect(pub.stats().pendingWrites).toBe(0);
  });

  it('parks large batches in their own arena and writes them back intact, in order', async () => {
    const limits = { receiveQueueLimit: 16, historyLimit: 64 };
    const pub = await node('pub', limits);
    const sub = await node('sub', limits);
    const seen: Array<[string, number, number]> = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await sub.subscribe('batch/arena', async (e) => {
      seen.push([e.id, e.data.length, e.data[e.data.length - 1]!]);
      await gate;
    });
    await sleep(100);
    const n = 300; // 6 KiB each: some 42 to a batch, so the batches parked behind the first fill most of an arena
    const sends = Array.from({ length: n }, (_, i) => pub.publish('batch/arena', event(i, new Uint8Array(6 * 1024).fill(i & 0xff))));
    await sleep(300);
    expect(pub.stats().pendingWrites).toBeGreaterThan(100);
    release();
    await Promise.all(sends);
    await waitFor(() => seen.length === n, `${n} deliveries`, 20_000);
    expect(seen).toEqual(ids(n).map((id, i) => [id, 6 * 1024, i & 0xff]));
    expect(pub.stats().pendingWrites).toBe(0);
  });

  it('never holds more than maxPendingPublishes writes: the excess fails with QUEUE_FULL, every accepted one arrives', async () => {
    const limits = { receiveQueueLimit: 16, historyLimit: 64, maxPendingPublishes: 40 };
    const pub = await node('pub', limits);
    const sub = await node('sub', limits);
    const { seen, release } = await subscriber(sub, 'batch/bound', true);
    const sends = Array.from({ length: 300 }, (_, i) => pub.publish('batch/bound', event(i)));
    await sleep(0);
    expect(pub.stats().pendingWrites).toBeLessThanOrEqual(limits.maxPendingPublishes);
    await sleep(200);
    expect(pub.stats().pendingWrites).toBeLessThanOrEqual(limits.maxPendingPublishes);
    release();
    const results = await Promise.allSettled(sends);
    const rejected = results.map((r, i) => [r, i] as const).filter(([r]) => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const [r] of rejected) expect(isEcpsError((r as PromiseRejectedResult).reason, 'QUEUE_FULL')).toBe(true);
    const accepted = ids(300).filter((_, i) => results[i]!.status === 'fulfilled');
    await waitFor(() => seen.length === accepted.length, `${accepted.length} deliveries`, 10_000);
    await sleep(200);
    expect(seen).toEqual(accepted);
  });
});

describe('the native writeBatch call', () => {
  it('writes at most `max` from `first` on, and refuses sample ends outside the bytes, a count beyond the ends, a malformed sample', () => {
    const binding = loadBinding();
    const participant = binding.createParticipant(domainId, {}, () => {});
    try {
      const handle = binding.participantHandle(participant);
      const topic = binding.createTopic(handle, 'ecps/batch/native', SAMPLE_TYPES.envelope, {});
      const writer = binding.createWriter(participant, handle, topic, { reliability: 0 });
      const one = encodeEnvelope(event(1));
      const bytes = new Uint8Array(one.length * 3);
      for (let i = 0; i < 3; i++) bytes.set(one, i * one.length);
      const ends = Uint32Array.of(one.length, one.length * 2, one.length * 3);
      expect(binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 3, 3)).toBe(3);
      expect(binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 3, 2)).toBe(2);
      expect(binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 0, 5)).toBe(0);
      // from sample `first` on (a parked tail): at most what is left after it
      expect(binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 3, 5, 1)).toBe(2);
      expect(binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 3, 5, 3)).toBe(0);
      expect(() => binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 3, 1, 4)).toThrow('batch count out of range');
      expect(() => binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, ends, 4, 4)).toThrow('batch count out of range');
      const beyond = Uint32Array.of(one.length, bytes.length + 1);
      expect(() => binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, beyond, 2, 2)).toThrow('batch sample out of range');
      const truncated = Uint32Array.of(one.length - 1);
      expect(() => binding.writeBatch(writer, SAMPLE_TYPES.envelope, bytes, truncated, 1, 1)).toThrow('malformed XCDR sample');
      expect(() => binding.writeBatch(writer, 7 as never, bytes, ends, 1, 1)).toThrow('unknown sample type');
    } finally {
      binding.deleteParticipant(participant);
    }
  });
});
