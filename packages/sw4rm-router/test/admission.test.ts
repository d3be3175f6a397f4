// SPDX-License-Identifier: Apache-2.0
// A send to a full queue is held for `fullWaitMs` before it is refused: admitted first-come once acks make room,
// refused at the deadline, bounded in number, never stored twice when retried while held, released on drain.
import { afterAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { waitFor } from '@ecps/testkit';
import { Envelope } from '@ecps/sw4rm/proto';
import { Sw4rmRouter } from '../src/index';
import type { RouterOptions, SendResult } from '../src/index';
import { Sink, data, removeTmpDirs, tmpDb } from './helpers';

afterAll(removeTmpDirs);

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
const bytes = (e: Envelope) => Envelope.encode(e).finish();

/** A router whose consumer `c` has a full queue of `maxQueue` rows in flight on an open stream. */
async function fullRouter(options: RouterOptions = {}) {
  const clock = new ManualClock();
  const router = await Sw4rmRouter.open({ dbPath: tmpDb(), clock, maxQueue: 2, fullWaitMs: 100, ...options });
  await router.addKnownAgent('p');
  const sink = new Sink();
  await router.openStream('c', sink);
  for (let i = 0; i < (options.maxQueue ?? 2); i++) expect((await router.sendMessage(bytes(data('p')))).accepted).toBe(true);
  await flush();
  /** Acks the oldest delivered row not yet acked. */
  let acked = 0;
  const ackNext = async () => {
    const item = sink.items[acked++]!;
    expect(await router.ackDelivery({ agentId: 'c', seq: item.seq, messageId: item.env.messageId, outcome: 0 })).toBe(true);
  };
  return { clock, router, sink, ackNext };
}

/** Tracks whether a promise settled yet. */
function track(p: Promise<SendResult>) {
  const t = { done: false, result: undefined as SendResult | undefined };
  void p.then((r) => {
    t.done = true;
    t.result = r;
  });
  return t;
}

describe('sends to a full queue are held, not refused at once', () => {
  it('a held send is accepted as soon as an ack makes room, and held sends are admitted first-come', async () => {
    const { router, sink, ackNext } = await fullRouter();
    const m1 = data('p');
    const m2 = data('p');
    const first = track(router.sendMessage(bytes(m1)));
    const second = track(router.sendMessage(bytes(m2)));
    await flush();
    expect(first.done || second.done).toBe(false);
    await ackNext();
    await ackNext();
    await flush();
    expect(first.result).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    expect(second.result).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    expect(sink.items.slice(2).map((i) => i.env.messageId)).toEqual([m1.messageId, m2.messageId]);
    await router.close();
  });

  it('a send arriving while others are held queues behind them even when a row is free', async () => {
    const { router, sink, ackNext } = await fullRouter({ maxQueue: 8 });
    const held = [data('p'), data('p')];
    const results = held.map((m) => track(router.sendMessage(bytes(m))));
    await flush();
    // one row free: room neither for both held sends nor for a quarter of the queue, so they stay held
    await ackNext();
    await flush();
    expect(results.some((r) => r.done)).toBe(false);
    const late = data('p');
    const lateResult = track(router.sendMessage(bytes(late)));
    await flush();
    expect(lateResult.done).toBe(false);
    for (let i = 0; i < 3; i++) await ackNext();
    await waitFor(() => lateResult.done, 'the late send answered');
    expect([...results, lateResult].map((r) => r.result?.accepted)).toEqual([true, true, true]);
    await flush();
    expect(sink.items.slice(8).map((i) => i.env.messageId)).toEqual([...held, late].map((m) => m.messageId));
    await router.close();
  });

  it('is refused buffer_full (with its NACK) once fullWaitMs pass without room; 0 refuses at once', async () => {
    const { clock, router } = await fullRouter();
    const m = data('p');
    const t = track(router.sendMessage(bytes(m)));
    clock.advance(99);
    await flush();
    expect(t.done).toBe(false);
    clock.advance(1);
    await waitFor(() => t.done, 'the held send answered');
    expect(t.result).toEqual({ accepted: false, reason: 'buffer_full: c' });
    expect(router.pendingFor('p').map((r) => r.messageId)).toHaveLength(1); // the BUFFER_FULL NACK
    await router.close();

    const { router: immediate } = await fullRouter({ fullWaitMs: 0 });
    expect(await immediate.sendMessage(bytes(data('p')))).toEqual({ accepted: false, reason: 'buffer_full: c' });
    await immediate.close();
  });

  it('holds at most maxHeldSends sends and maxHeldBytes bytes; past them a send is answered at once', async () => {
    const { router } = await fullRouter({ maxHeldSends: 1 });
    const held = track(router.sendMessage(bytes(data('p'))));
    expect(await router.sendMessage(bytes(data('p')))).toEqual({ accepted: false, reason: 'buffer_full: c' });
    expect(held.done).toBe(false);
    await router.close();

    const { router: small } = await fullRouter({ maxHeldBytes: 10 });
    expect(await small.sendMessage(bytes(data('p')))).toEqual({ accepted: false, reason: 'buffer_full: c' });
    await small.close();
  });

  it('a retry of a held send waits for its outcome: one row, the retry answered as a duplicate', async () => {
    const { router, sink, ackNext } = await fullRouter();
    const m = data('p');
    const original = track(router.sendMessage(bytes(m)));
    const retry = track(router.sendMessage(bytes(m)));
    await flush();
    await ackNext();
    await flush();
    expect(original.result).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    expect(retry.result).toEqual({ accepted: true, reason: `Duplicate of ${m.messageId} suppressed` });
    await ackNext();
    await flush();
    expect(sink.items.filter((i) => i.env.messageId === m.messageId)).toHaveLength(1);
    await router.close();
  });

  it('a retry of a held send that is refused is a new send: it may still be stored', async () => {
    const { clock, router, ackNext } = await fullRouter({ maxHeldSends: 1 });
    const m = data('p');
    const original = track(router.sendMessage(bytes(m)));
    const retry = track(router.sendMessage(bytes(m)));
    clock.advance(100);
    await waitFor(() => original.done, 'the original answered');
    expect(original.result).toEqual({ accepted: false, reason: 'buffer_full: c' });
    // the retry waited for the original's outcome, then was tried anew and held in turn
    expect(retry.done).toBe(false);
    await ackNext();
    await waitFor(() => retry.done, 'the retry answered');
    expect(retry.result).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    await router.close();
  });

  it('drain answers held sends that the router is shutting down', async () => {
    const { router } = await fullRouter();
    const t = track(router.sendMessage(bytes(data('p'))));
    await flush();
    await router.drain(0);
    await flush();
    expect(t.result).toEqual({ accepted: false, reason: 'Router service is shutting down' });
  });
});
