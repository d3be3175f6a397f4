// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { ManualClock, seededRandom } from '@ecps/core';
import { AckLifecycleManager, AckStage, ErrorCode, MessageProcessor, MessageType, ackOf, buildAckEnvelope, buildEnvelope, memoryKvStore } from '../src/index';
import type { Envelope } from '../src/index';

const flush = () => new Promise((r) => setImmediate(r));

function setup(accepted = true, reason = 'Message delivered to 1 recipients') {
  const clock = new ManualClock();
  const sent: Envelope[] = [];
  const mgr = new AckLifecycleManager({
    clock,
    random: seededRandom(7),
    send: async (e) => {
      sent.push(e);
      return { accepted, reason };
    },
  });
  return { clock, sent, mgr };
}

const data = (token = 'tok') => buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, idempotencyToken: token, payload: '{}' });

describe('ACK lifecycle manager (spec §3.4, checklist 10)', () => {
  it('RECEIVED within 10 s completes; the timer is cleared', async () => {
    const { mgr, clock } = setup();
    const env = data();
    const p = mgr.send(env);
    await flush();
    expect(mgr.pendingTimers).toBe(1);
    clock.advance(9_999);
    mgr.handleAck({ ackForMessageId: env.messageId, ackStage: AckStage.RECEIVED, errorCode: 0 });
    const snap = await p;
    expect(snap.stage).toBe(AckStage.RECEIVED);
    expect(mgr.pendingTimers).toBe(0);
  });

  it('times out after 10 s, retries with a new id and the same token, then gives up TIMED_OUT', async () => {
    const { mgr, clock, sent } = setup();
    const p = mgr.send(data());
    await flush();
    clock.advance(10_000); // attempt 1 times out, retry in 200 ms
    clock.advance(200);
    await flush();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.messageId).not.toBe(sent[0]!.messageId);
    expect([sent[1]!.idempotencyToken, sent[1]!.retryCount]).toEqual(['tok', 1]);
    clock.advance(10_000);
    clock.advance(400);
    await flush();
    expect(sent).toHaveLength(3);
    clock.advance(10_000);
    const snap = await p;
    expect([snap.stage, snap.errorCode, snap.note]).toEqual([AckStage.TIMED_OUT, ErrorCode.ACK_TIMEOUT, 'received_timeout']);
    expect(mgr.pendingTimers).toBe(0);
    // a late ACK does not resurrect it; it is kept for audit
    mgr.handleAck({ ackForMessageId: sent[0]!.messageId, ackStage: AckStage.FULFILLED, errorCode: 0 });
    const after = mgr.get('tok')!;
    expect(after.stage).toBe(AckStage.TIMED_OUT);
    expect(after.lateAcks).toHaveLength(1);
    expect(after.attempts[0]!.stage).toBe(AckStage.TIMED_OUT);
    expect(after.attempts[0]!.lateAcks).toHaveLength(1);
  });

  it('an ACK for an earlier attempt completes the operation; stages move forward only; earliest success wins', async () => {
    const { mgr, clock, sent } = setup();
    const p = mgr.send(data(), AckStage.FULFILLED);
    await flush();
    clock.advance(10_000);
    clock.advance(200);
    await flush();
    mgr.handleAck({ ackForMessageId: sent[0]!.messageId, ackStage: AckStage.READ, errorCode: 0 });
    mgr.handleAck({ ackForMessageId: sent[1]!.messageId, ackStage: AckStage.RECEIVED, errorCode: 0 });
    expect(mgr.get('tok')!.stage).toBe(AckStage.READ);
    expect(mgr.get('tok')!.attempts[0]!.stage).toBe(AckStage.TIMED_OUT);
    mgr.handleAck({ ackForMessageId: sent[1]!.messageId, ackStage: AckStage.FULFILLED, errorCode: 0 });
    mgr.handleAck({ ackForMessageId: sent[0]!.messageId, ackStage: AckStage.FAILED, errorCode: ErrorCode.INTERNAL_ERROR });
    const snap = await p;
    expect([snap.stage, snap.ackedMessageId]).toEqual([AckStage.FULFILLED, sent[1]!.messageId]);
    expect(mgr.get('tok')!.stage).toBe(AckStage.FULFILLED);
    expect(mgr.pendingTimers).toBe(0);
  });

  it('router Duplicate-of replies alias the original id; refused sends end REJECTED', async () => {
    const dup = setup(true, 'Duplicate of orig-1 suppressed');
    const p = dup.mgr.send(data());
    await flush();
    dup.mgr.handleAck({ ackForMessageId: 'orig-1', ackStage: AckStage.RECEIVED, errorCode: 0 });
    expect((await p).stage).toBe(AckStage.RECEIVED);
    const full = setup(false, 'buffer_full: b');
    const snap = await full.mgr.send(data());
    expect([snap.stage, snap.errorCode]).toEqual([AckStage.REJECTED, ErrorCode.BUFFER_FULL]);
    expect(full.mgr.pendingTimers).toBe(0);
  });

  it('close() clears every timer and resolves waiters', async () => {
    const { mgr } = setup();
    const p = mgr.send(data());
    await flush();
    mgr.close();
    expect((await p).stage).toBe(AckStage.ACK_STAGE_UNSPECIFIED);
    expect(mgr.pendingTimers).toBe(0);
  });
});

describe('message processor (spec §3.4)', () => {
  function proc(capacity = 10) {
    const acks: Envelope[] = [];
    const gotAcks: string[] = [];
    const p = new MessageProcessor({
      agentId: 'b',
      bufferCapacity: capacity,
      sendAck: async (e) => {
        acks.push(e);
      },
      onAck: (a) => gotAcks.push(a.ackForMessageId),
    });
    const stages = () => acks.map((a) => ackOf(a)!.ackStage);
    return { p, acks, gotAcks, stages };
  }

  it('acks RECEIVED, READ, FULFILLED around a handler', async () => {
    const { p, stages } = proc();
    const seen: string[] = [];
    p.on(MessageType.DATA, (e) => {
      seen.push(e.messageId);
    });
    expect(await p.submit(data('t1'))).toBe('queued');
    await p.idle();
    expect(seen).toHaveLength(1);
    expect(stages()).toEqual([AckStage.RECEIVED, AckStage.READ, AckStage.FULFILLED]);
  });

  it('NACKs a type without handler (enum names normalised) and never acks an ACK', async () => {
    const { p, acks, gotAcks } = proc();
    const ctl = { ...buildEnvelope({ producerId: 'a', messageType: MessageType.CONTROL }), messageType: 'CONTROL' as unknown as MessageType };
    expect(await p.submit(ctl)).toBe('rejected');
    expect(ackOf(acks[0]!)).toMatchObject({ ackStage: AckStage.REJECTED, errorCode: ErrorCode.UNSUPPORTED_MESSAGE_TYPE });
    const ack = buildAckEnvelope(data(), { producerId: 'x', stage: AckStage.RECEIVED });
    expect(await p.submit({ ...ack, messageType: 'ACKNOWLEDGEMENT' as unknown as MessageType })).toBe('ack');
    expect(acks).toHaveLength(1);
    expect(gotAcks).toHaveLength(1);
  });

  it('fails a throwing handler, rejects a full buffer and duplicates', async () => {
    const { p, acks, stages } = proc(1);
    let release!: () => void;
    p.on(MessageType.DATA, () => new Promise<void>((r) => (release = r)));
    await p.submit(data('x1')); // taken by the worker
    await flush();
    await p.submit(data('x2')); // waits in the buffer
    expect(await p.submit(data('x3'))).toBe('rejected');
    expect(ackOf(acks.at(-1)!)!.errorCode).toBe(ErrorCode.BUFFER_FULL);
    // x1 is still being processed: ALREADY_IN_PROGRESS with the cached outcome, not a second run
    expect(await p.submit(data('x1'))).toBe('in_progress');
    const inProgress = ackOf(acks.at(-1)!)!;
    expect(inProgress).toMatchObject({ ackStage: AckStage.REJECTED, errorCode: ErrorCode.ALREADY_IN_PROGRESS });
    expect(JSON.parse(inProgress.note!.replace(/^already_in_progress: /, ''))).toMatchObject({ original_status: 'READ' });
    release();
    await flush();
    release();
    await p.idle();
    expect(stages().filter((s) => s === AckStage.FULFILLED)).toHaveLength(2);
    expect(await p.submit(data('x1'))).toBe('duplicate');
    const dup = ackOf(acks.at(-1)!)!;
    expect(dup.errorCode).toBe(ErrorCode.DUPLICATE_DETECTED);
    expect(JSON.parse(dup.note!.replace(/^duplicate_detected: /, ''))).toMatchObject({ original_status: 'FULFILLED', cached_at: expect.any(Number) });
    const q = proc();
    q.p.on(MessageType.DATA, () => {
      throw new Error('boom');
    });
    await q.p.submit(data('y'));
    await q.p.idle();
    expect(q.stages()).toEqual([AckStage.RECEIVED, AckStage.READ, AckStage.FAILED]);
  });

  it('keeps receiver dedup records in a store: a restarted processor answers duplicates with the cached outcome', async () => {
    const store = memoryKvStore();
    const acks: Envelope[] = [];
    const make = () =>
      new MessageProcessor({ agentId: 'b', store, sendAck: async (e) => void acks.push(e) }).on(MessageType.DATA, (e) => `done ${e.idempotencyToken}`).load();
    const first = await make();
    const original = data('op-1');
    await first.submit(original);
    await first.idle();
    const second = await make(); // a new process on the same store
    const retry = data('op-1');
    expect(await second.submit(retry)).toBe('duplicate');
    const nack = ackOf(acks.at(-1)!)!;
    expect(nack.ackForMessageId).toBe(retry.messageId);
    expect(JSON.parse(nack.note!.replace(/^duplicate_detected: /, ''))).toEqual({ original_message_id: original.messageId, original_status: 'FULFILLED', result: 'done op-1', cached_at: expect.any(Number) });
    expect(second.outcome('a', 'op-1')).toMatchObject({ original_status: 'FULFILLED' });
  });
});

describe('AckLifecycleManager memory', () => {
  it('forgets finished operations after the retention time and beyond the retained count', async () => {
    const clock = new ManualClock();
    const m = new AckLifecycleManager({ clock, send: async () => ({ accepted: true, reason: '' }), retentionMs: 60_000, maxRetained: 3 });
    for (let i = 0; i < 5; i++) {
      const e = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, idempotencyToken: `op-${i}` });
      const done = m.send(e, AckStage.FULFILLED);
      await Promise.resolve();
      m.handleAck({ ackForMessageId: e.messageId, ackStage: AckStage.FULFILLED, errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED });
      await done;
    }
    expect(m.size).toBeLessThanOrEqual(4); // at most maxRetained finished + the one just sent
    clock.advance(60_000);
    const last = buildEnvelope({ producerId: 'a', messageType: MessageType.DATA, idempotencyToken: 'op-last' });
    void m.send(last);
    expect(m.size).toBe(1);
    expect(m.get('op-0')).toBeUndefined();
    m.close();
  });
});
