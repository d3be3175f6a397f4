// SPDX-License-Identifier: Apache-2.0
// Property tests: the Raft wire codec round-trips every message; the KV state machine is deterministic, its
// snapshot is a faithful copy, and a retried command never applies twice.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { KvCommand, RaftMessage, RaftMessageType } from '@ecps/proto/ext/v1';
import { KvStateMachine } from './kv-state-machine';
import { decodeRaftMessage, encodeRaftMessage } from './message-codec';
import type { Entry, Message, MessageType } from './types';

const types: MessageType[] = [
  'append', 'appendResponse', 'vote', 'voteResponse', 'preVote', 'preVoteResponse', 'heartbeat',
  'heartbeatResponse', 'snapshot', 'timeoutNow', 'readIndex', 'readIndexResponse', 'transferLeader',
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
  })
  .map((m) => {
    const { snapshot, context, ...rest } = m;
    return { ...rest, ...(snapshot ? { snapshot } : {}), ...(context ? { context } : {}) };
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

  it('rejects garbage and out-of-range numbers with DECODE_ERROR', () => {
    expect(() => decodeRaftMessage(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => decodeRaftMessage(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    const huge = RaftMessage.encode(RaftMessage.fromPartial({ type: RaftMessageType.RAFT_APPEND, from: 'a', to: 'b', term: 1n << 60n })).finish();
    expect(() => decodeRaftMessage(huge)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});

const cmdArb = fc.record({
  client: fc.constantFrom('a', 'b'),
  seq: fc.integer({ min: 1, max: 6 }),
  kind: fc.constantFrom('put', 'delete', 'cas', 'get'),
  key: fc.constantFrom('x', 'y'),
  value: fc.constantFrom('1', '2'),
  absent: fc.boolean(),
});
const enc = (s: string) => new TextEncoder().encode(s);
type Cmd = typeof cmdArb extends fc.Arbitrary<infer T> ? T : never;
function encode(c: Cmd): Uint8Array {
  const op: KvCommand['op'] =
    c.kind === 'put'
      ? { $case: 'put', value: { key: c.key, value: enc(c.value) } }
      : c.kind === 'delete'
        ? { $case: 'delete', value: { key: c.key } }
        : c.kind === 'cas'
          ? { $case: 'cas', value: { key: c.key, expectAbsent: c.absent, expected: enc('1'), value: enc(c.value) } }
          : { $case: 'get', value: { key: c.key } };
  return KvCommand.encode({ clientId: c.client, sequence: BigInt(c.seq), op }).finish();
}

describe('KvStateMachine', () => {
  it('is deterministic, snapshots faithfully, and applies each (client, sequence) at most once', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 40 }), fc.nat({ max: 40 }), (cmds, cut) => {
        const a = new KvStateMachine();
        const b = new KvStateMachine();
        const replies = cmds.map((c, i) => a.apply(encode(c), i + 1));
        // b: the same log, with a snapshot/restore in the middle and every command delivered twice
        const at = Math.min(cut, cmds.length);
        cmds.slice(0, at).forEach((c, i) => {
          b.apply(encode(c), i + 1);
          b.apply(encode(c), i + 1);
        });
        const c2 = new KvStateMachine();
        c2.restore(b.snapshot());
        const later = cmds.slice(at).map((c, i) => {
          const r = c2.apply(encode(c), at + i + 1);
          expect(c2.apply(encode(c), at + i + 1)).toEqual(r);
          return r;
        });
        expect(later).toEqual(replies.slice(at));
        expect(c2.snapshot()).toEqual(a.snapshot());
      }),
      { numRuns: 200 },
    );
  });
});
