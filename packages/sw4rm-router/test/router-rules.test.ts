// SPDX-License-Identifier: Apache-2.0
// Router rules of issue 14: a duplicate is answered only once the original is durable, per-agent in-flight window,
// agent retention and deregistration, bounded fan-out and known agents, unicast, dedup pruning and its cap.
import { afterAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { AckStage, ErrorCode, ackOf } from '@ecps/sw4rm';
import type { KvStore } from '@ecps/sw4rm';
import { Envelope } from '@ecps/sw4rm/proto';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { Sw4rmRouter } from '../src/index';
import { Sink, data, removeTmpDirs, tmpDb } from './helpers';

afterAll(removeTmpDirs);

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
const bytes = (e: Envelope) => Envelope.encode(e).finish();

/** A real LevelDB store whose commits can be held back (or failed) by the test. */
async function gatedStore(): Promise<{ store: KvStore; hold(): void; release(): void; failNext(): void; held: () => number }> {
  const inner = await LevelKvStore.open(tmpDb());
  let holding = false;
  let failing = false;
  const waiters: (() => void)[] = [];
  return {
    store: {
      load: (p) => inner.load(p),
      close: () => inner.close(),
      async commit(ops, durable) {
        if (holding) await new Promise<void>((r) => waiters.push(r));
        if (failing) {
          failing = false;
          throw new Error('disk full');
        }
        return inner.commit(ops, durable);
      },
    },
    hold: () => (holding = true),
    release: () => {
      holding = false;
      for (const w of waiters.splice(0)) w();
    },
    failNext: () => (failing = true),
    held: () => waiters.length,
  };
}

describe('duplicates wait for the original to be durable', () => {
  it('a concurrent retry is told "accepted" only after the original commit, and is stored itself if that commit fails', async () => {
    const g = await gatedStore();
    const r = await Sw4rmRouter.open({ store: g.store });
    await r.addKnownAgent('p');
    await r.addKnownAgent('c');
    const m = data('p');
    g.hold();
    const answers: string[] = [];
    const original = r.sendMessage(bytes(m)).then((x) => answers.push(`original: ${x.reason}`));
    const retry = r.sendMessage(bytes(m)).then((x) => answers.push(`retry: ${x.reason}`));
    await flush();
    expect(g.held()).toBe(1); // the original's commit is on its way to disk...
    expect(answers).toEqual([]); // ...and nobody has been told anything yet
    g.release();
    await Promise.all([original, retry]);
    expect(answers).toEqual(['original: Message delivered to 1 recipients', `retry: Duplicate of ${m.messageId} suppressed`]);

    const m2 = data('p');
    g.hold();
    g.failNext();
    const first = r.sendMessage(bytes(m2));
    const second = r.sendMessage(bytes(m2));
    await flush();
    g.release();
    await expect(first).rejects.toThrow('disk full');
    expect(await second).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    expect(r.pendingFor('c').map((x) => x.messageId)).toEqual([m.messageId, m2.messageId]);
    await r.close();
  });
});

describe('per-agent in-flight window', () => {
  it('a slow consumer gets at most maxInFlight unacknowledged rows, also after a lease lapse', async () => {
    const clock = new ManualClock();
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), clock, maxInFlight: 3, leaseMs: 1000 });
    await r.addKnownAgent('p');
    await r.addKnownAgent('c');
    for (let i = 0; i < 10; i++) await r.sendMessage(bytes(data('p')));
    const s = new Sink();
    await r.openStream('c', s);
    await flush();
    expect(s.items.map((i) => i.seq)).toEqual([1n, 2n, 3n]);
    expect(await r.ackDelivery({ agentId: 'c', seq: 2n, messageId: '', outcome: 0 })).toBe(true);
    await flush();
    expect(s.items.map((i) => i.seq)).toEqual([1n, 2n, 3n, 4n]);
    clock.advance(1000); // lease lapses: 1, 3, 4 are redelivered, still at most 3 in flight
    await r.sweep();
    await flush();
    expect(s.items.slice(4).map((i) => i.seq)).toHaveLength(3);
    expect(r.pendingFor('c').filter((x) => x.state === 'IN_FLIGHT')).toHaveLength(3);
    await r.close();
  });

  it('an ack frees its slot at once: the next row streams while the ack\'s delete is still queued', async () => {
    const g = await gatedStore();
    const r = await Sw4rmRouter.open({ store: g.store, maxInFlight: 1 });
    await r.addKnownAgent('p');
    await r.addKnownAgent('c');
    for (let i = 0; i < 2; i++) await r.sendMessage(bytes(data('p')));
    const s = new Sink();
    await r.openStream('c', s);
    await flush();
    expect(s.items.map((i) => i.seq)).toEqual([1n]);
    g.hold();
    let answered = false;
    const ack = r.ackDelivery({ agentId: 'c', seq: 1n, messageId: '', outcome: 0 }).then((x) => (answered = x));
    await flush();
    expect(s.items.map((i) => i.seq)).toEqual([1n, 2n]);
    expect(answered).toBe(false); // the answer still waits for the write
    g.release();
    await ack;
    expect(answered).toBe(true);
    await r.close();
  });
});

describe('agent retention, fan-out and agent limits, unicast', () => {
  it('forgets agents without a stream after the retention time, NACKing their rows; deregistered agents at once', async () => {
    const clock = new ManualClock();
    const dbPath = tmpDb();
    const r = await Sw4rmRouter.open({ dbPath, clock, agentRetentionMs: 60_000, leaseMs: 3_600_000 });
    const producer = new Sink();
    await r.openStream('p', producer);
    await r.addKnownAgent('idle');
    await r.addKnownAgent('gone');
    const m = data('p');
    expect((await r.sendMessage(bytes(m))).reason).toBe('Message delivered to 2 recipients');
    await r.forgetAgent('gone');
    expect(r.knownAgents()).toEqual(['idle', 'p']);
    clock.advance(60_000);
    await r.sweep();
    await r.idle();
    await flush();
    expect(r.knownAgents()).toEqual(['p']); // the producer's stream is open: it stays
    expect((await r.sendMessage(bytes(data('p')))).reason).toBe('No recipients available');
    const nacks = producer.items.map((i) => ackOf(i.env)!);
    expect(nacks).toEqual([
      { ackForMessageId: m.messageId, ackStage: AckStage.FAILED, errorCode: ErrorCode.AGENT_UNAVAILABLE, note: 'agent_forgotten: recipient gone' },
      { ackForMessageId: m.messageId, ackStage: AckStage.FAILED, errorCode: ErrorCode.AGENT_UNAVAILABLE, note: 'agent_forgotten: recipient idle' },
    ]);
    await r.close();
    const again = await Sw4rmRouter.open({ dbPath, clock }); // forgetting is durable
    expect(again.knownAgents()).toEqual(['p']);
    await again.close();
  });

  it('bounds broadcast fan-out and the number of known agents; unicast reaches only its addressee', async () => {
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), maxFanout: 2, maxKnownAgents: 4 });
    for (const a of ['p', 'a', 'b', 'c']) await r.addKnownAgent(a);
    await expect(r.addKnownAgent('one-too-many')).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(await r.sendMessage(bytes(data('p')))).toEqual({ accepted: false, reason: 'overloaded: 3 recipients exceed the fan-out limit 2' });
    expect((await r.sendMessage(bytes(data('p')), { to: ['b'] })).reason).toBe('Message delivered to 1 recipients');
    expect((await r.sendMessage(bytes(data('p')), { to: ['nobody'] })).reason).toBe('No recipients available');
    expect(r.pendingFor('b')).toHaveLength(1);
    expect(r.pendingFor('a')).toHaveLength(0);
    await r.close();
  });
});

describe('dedup records are pruned in accept order and capped', () => {
  it('expires records after the window and keeps at most maxDedupRecords', async () => {
    const clock = new ManualClock();
    const r = await Sw4rmRouter.open({ dbPath: tmpDb(), clock, dedupWindowMs: 10_000, maxDedupRecords: 2 });
    await r.addKnownAgent('p');
    await r.addKnownAgent('c');
    const first = data('p');
    await r.sendMessage(bytes(first));
    clock.advance(5000);
    await r.sendMessage(bytes(data('p')));
    await r.sendMessage(bytes(data('p')));
    expect(r.dedupSize).toBe(3);
    await r.sweep();
    expect(r.dedupSize).toBe(2); // the cap drops the oldest: the first message is no longer recognised
    expect((await r.sendMessage(bytes(first))).reason).toBe('Message delivered to 1 recipients');
    clock.advance(10_000);
    await r.sweep();
    expect(r.dedupSize).toBe(0);
    await r.close();
  });
});

describe('per-recipient seq high-water marks', () => {
  it('are written with the deletions that need them, not with every send, and a restart never reuses a seq', async () => {
    const path = tmpDb();
    const inner = await LevelKvStore.open(path);
    const agentWrites: string[] = [];
    const store: KvStore = {
      load: (p) => inner.load(p),
      close: () => inner.close(),
      commit: (ops, durable) => {
        for (const op of ops) if (op.type === 'put' && op.key.startsWith('a/')) agentWrites.push(op.key);
        return inner.commit(ops, durable);
      },
    };
    const r = await Sw4rmRouter.open({ store });
    await r.addKnownAgent('p');
    await r.addKnownAgent('c');
    agentWrites.length = 0;
    for (let i = 0; i < 20; i++) await r.sendMessage(bytes(data('p')));
    expect(agentWrites).toEqual([]); // each stored row witnesses its own seq
    const s = new Sink();
    await r.openStream('c', s);
    await flush();
    const ack = (seq: bigint) => r.ackDelivery({ agentId: 'c', seq, messageId: '', outcome: 0 });
    for (const { seq } of s.items.slice(0, 20)) expect(await ack(seq)).toBe(true);
    expect(agentWrites).toEqual(['a/c']); // the first deletion above the stored mark wrote it (20), the others needed none
    await r.crash(); // kill -9: no clean close
    const r2 = await Sw4rmRouter.open({ dbPath: path });
    await r2.sendMessage(bytes(data('p')));
    expect(r2.pendingFor('c').map((x) => x.seq)).toEqual([21n]);
    await r2.close();
  });
});
