// SPDX-License-Identifier: Apache-2.0
// Property tests: the Raft wire codec round-trips every message; the KV state machine is deterministic, its
// snapshot is a faithful copy, and a retried command never applies twice.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { KvCommand, KvResult, RaftMessage, RaftMessageType } from '@ecps/proto/ext/v1';
import { KvStateMachine } from './kv-state-machine';
import { MESSAGE_OVERHEAD_BYTES, decodeRaftMessage, encodeRaftMessage, entryWireSize } from './message-codec';
import type { Entry, Message, MessageType } from './types';

const types: MessageType[] = [
  'append', 'appendResponse', 'vote', 'voteResponse', 'preVote', 'preVoteResponse', 'heartbeat',
  'heartbeatResponse', 'snapshot', 'timeoutNow', 'readIndex', 'readIndexResponse', 'transferLeader', 'snapshotAck',
];
const idArb = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
const n = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 32 });
const entryArb: fc.Arbitrary<Entry> = fc.record({ term: n, index: n, type: fc.constantFrom('normal' as const, 'conf' as const), data: bytes });
const messageArb: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...types),
    from: idArb,
    to: idArb,
    term: n,
    logTerm: n,
    index: n,
    entries: fc.array(entryArb, { maxLength: 4 }),
    commit: n,
    reject: fc.boolean(),
    rejectHint: n,
    snapshot: fc.option(
      fc.record({
        meta: fc.record({ index: n, term: n, confState: fc.record({ voters: fc.array(idArb, { maxLength: 3 }), learners: fc.array(idArb, { maxLength: 2 }) }) }),
        data: bytes,
      }),
      { nil: undefined },
    ),
    context: fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }),
    snapshotOffset: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
    snapshotSize: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
  })
  .map((m) => {
    const { snapshot, context, snapshotOffset, snapshotSize, ...rest } = m;
    return {
      ...rest,
      ...(snapshot ? { snapshot } : {}),
      ...(context ? { context } : {}),
      ...(snapshotOffset ? { snapshotOffset } : {}),
      ...(snapshotSize ? { snapshotSize } : {}),
    };
  });

describe('Raft message codec', () => {
  it('round-trips every message through protobuf', () => {
    fc.assert(
      fc.property(messageArb, idArb, (m, cluster) => {
        const { message, clusterId } = decodeRaftMessage(encodeRaftMessage(m, cluster));
        expect(clusterId).toBe(cluster);
        expect(message).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('never encodes an append larger than its size estimate (which cuts appends to the network limit)', () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.record({ term: n, index: n, type: fc.constantFrom('normal' as const, 'conf' as const), data: fc.uint8Array({ maxLength: 3000 }) }), { maxLength: 6 }), (m, entries) => {
        const { snapshot: _s, snapshotOffset: _o, snapshotSize: _z, ...plain } = m;
        const bytes = encodeRaftMessage({ ...plain, type: 'append', entries, from: 'n'.repeat(64), to: 'm'.repeat(64) }, 'c'.repeat(64));
        expect(bytes.length).toBeLessThanOrEqual(MESSAGE_OVERHEAD_BYTES + entries.reduce((sum, e) => sum + entryWireSize(e), 0));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects garbage and out-of-range numbers with DECODE_ERROR', () => {
    expect(() => decodeRaftMessage(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => decodeRaftMessage(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    const huge = RaftMessage.encode(RaftMessage.fromPartial({ type: RaftMessageType.RAFT_APPEND, from: 'a', to: 'b', term: 1n << 60n })).finish();
    expect(() => decodeRaftMessage(huge)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});

const cmdArb = fc.record({
  session: fc.constantFrom(1n, 2n, 9n),
  intruder: fc.boolean(),
  seq: fc.integer({ min: 1, max: 6 }),
  ackedBelow: fc.integer({ min: 0, max: 4 }),
  kind: fc.constantFrom('put', 'delete', 'cas', 'casDelete', 'get', 'range', 'grant', 'keepAlive', 'revoke', 'tick'),
  key: fc.constantFrom('x', 'y', 'z/1'),
  value: fc.constantFrom('1', '2'),
  absent: fc.boolean(),
  lease: fc.constantFrom(0n, 3n, 4n),
  term: fc.integer({ min: 1, max: 2 }),
  elapsedMs: fc.integer({ min: 0, max: 400 }),
});
const enc = (s: string) => new TextEncoder().encode(s);
type Cmd = typeof cmdArb extends fc.Arbitrary<infer T> ? T : never;
const base = { sequence: 0n, session: 0n, ackedBelow: 0n, owner: '', leaderTerm: 0n, leaderClockMs: 0n };
function encode(c: Cmd, clockMs: number): Uint8Array {
  const op: KvCommand['op'] =
    c.kind === 'put'
      ? { $case: 'put', value: { key: c.key, value: enc(c.value), lease: c.lease } }
      : c.kind === 'delete'
        ? { $case: 'delete', value: { key: c.key } }
        : c.kind === 'cas' || c.kind === 'casDelete'
          ? { $case: 'cas', value: { key: c.key, expectAbsent: c.absent, expected: enc('1'), value: enc(c.value), lease: c.lease, delete: c.kind === 'casDelete' } }
          : c.kind === 'get'
            ? { $case: 'get', value: { key: c.key } }
            : c.kind === 'range'
              ? { $case: 'range', value: { prefix: 'z', limit: 0 } }
              : c.kind === 'grant'
                ? { $case: 'leaseGrant', value: { ttlMs: 500n } }
                : c.kind === 'keepAlive'
                  ? { $case: 'leaseKeepAlive', value: { lease: c.lease } }
                  : c.kind === 'revoke'
                    ? { $case: 'leaseRevoke', value: { lease: c.lease } }
                    : { $case: 'clockTick', value: {} };
  const owner = c.intruder ? 'mallory' : c.session === 1n ? 'a' : 'b';
  return KvCommand.encode({ ...base, session: c.session, owner, sequence: BigInt(c.seq), ackedBelow: BigInt(c.ackedBelow), op, leaderTerm: BigInt(c.term), leaderClockMs: BigInt(clockMs) }).finish();
}
const register = (owner: string) => KvCommand.encode({ ...base, owner, op: { $case: 'registerSession', value: {} } }).finish();

describe('KvStateMachine', () => {
  it('is deterministic, snapshots faithfully, and applies each (session, sequence) at most once', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 40 }), fc.nat({ max: 40 }), (cmds, cut) => {
        // sessions 1 and 2 are registered by the first two entries; session 9 never exists
        const log: Uint8Array[] = [register('a'), register('b')];
        let clock = 0;
        for (const c of cmds) {
          clock += c.elapsedMs;
          log.push(encode(c, clock));
        }
        const a = new KvStateMachine({ maxPendingPerSession: 4 });
        const replies = log.map((e, i) => a.apply(e, i + 1));
        // b: the same log, with a snapshot/restore in the middle and every entry applied twice (a retried write
        // that was committed twice gets the first answer and changes nothing)
        const b = new KvStateMachine({ maxPendingPerSession: 4 });
        const at = Math.min(cut + 2, log.length);
        log.slice(0, at).forEach((e, i) => {
          b.apply(e, i + 1);
          b.apply(e, i + 1);
        });
        const c2 = new KvStateMachine({ maxPendingPerSession: 4 });
        c2.restore(b.snapshot());
        const later = log.slice(at).map((e, i) => {
          const r = c2.apply(e, at + i + 1);
          expect(c2.apply(e, at + i + 1)).toEqual(r);
          return r;
        });
        expect(later).toEqual(replies.slice(at));
        expect(c2.snapshot()).toEqual(a.snapshot());
        // nobody but its owner writes through a session
        cmds.forEach((c, i) => {
          if (c.intruder && c.session !== 9n && !['get', 'range', 'tick'].includes(c.kind)) expect(KvResult.decode(replies[i + 2] as Uint8Array).error).toBe('PERMISSION_DENIED');
        });
      }),
      { numRuns: 300 },
    );
  });

  it('expires idle sessions and leases on the replicated clock, and evicts the least recently active session', () => {
    const sm = new KvStateMachine({ sessionTtlMs: 1_000, maxSessions: 2 });
    let index = 0;
    const apply = (cmd: Partial<KvCommand>) => KvResult.decode(sm.apply(KvCommand.encode({ ...base, op: undefined, ...cmd }).finish(), ++index));
    const at = (ms: number) => ({ leaderTerm: 1n, leaderClockMs: BigInt(ms) });
    const s1 = apply({ owner: 'a', op: { $case: 'registerSession', value: {} }, ...at(0) }).session;
    const s2 = apply({ owner: 'b', op: { $case: 'registerSession', value: {} }, ...at(100) }).session;
    const lease = apply({ owner: 'a', session: s1, sequence: 1n, op: { $case: 'leaseGrant', value: { ttlMs: 500n } }, ...at(200) }).lease;
    expect(apply({ owner: 'a', session: s1, sequence: 2n, op: { $case: 'put', value: { key: 'k', value: enc('v'), lease } }, ...at(300) }).ok).toBe(true);
    expect(sm.read('k')).toEqual(enc('v'));
    // a new leader (term 2) re-anchors the clock: its own clock reading says nothing about elapsed time
    apply({ op: { $case: 'clockTick', value: {} }, leaderTerm: 2n, leaderClockMs: 999_999n });
    expect(sm.clock).toBe(300);
    apply({ op: { $case: 'clockTick', value: {} }, leaderTerm: 2n, leaderClockMs: 1_000_499n });
    expect(sm.clock).toBe(800);
    expect(sm.read('k')).toBeUndefined();
    expect(sm.leaseCount).toBe(0);
    // s2 idle since 100: expired at 1100; s1 active at 300: expires at 1300
    apply({ op: { $case: 'clockTick', value: {} }, leaderTerm: 2n, leaderClockMs: 1_000_849n });
    expect(sm.sessionCount).toBe(1);
    expect(apply({ owner: 'b', session: s2, sequence: 1n, op: { $case: 'delete', value: { key: 'k' } } }).error).toBe('NOT_FOUND: session');
    // two more sessions: the least recently active (s1) is evicted
    apply({ owner: 'c', op: { $case: 'registerSession', value: {} } });
    apply({ owner: 'd', op: { $case: 'registerSession', value: {} } });
    expect(sm.sessionCount).toBe(2);
    expect(apply({ owner: 'a', session: s1, sequence: 3n, op: { $case: 'delete', value: { key: 'k' } } }).error).toBe('NOT_FOUND: session');
  });
});
