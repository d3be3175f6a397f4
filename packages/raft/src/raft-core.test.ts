// SPDX-License-Identifier: Apache-2.0
// Scenario tests in the style of etcd's raft tests: scripted steps, the messages each produces, and the state after.
import { describe, expect, it } from '@jest/globals';
import { isEcpsError, seededRandom } from '@ecps/core';
import { encodeRaftMessage } from './message-codec';
import { RaftCore } from './raft-core';
import type { RaftCoreOptions } from './raft-core';
import type { Entry, Message, Ready, Snapshot } from './types';

const enc = (s: string) => new TextEncoder().encode(s);

/** Tells a core its Ready is durable (these tests persist instantly). */
function persisted(r: RaftCore, rd: Ready): void {
  if (rd.snapshot) r.stableTo(rd.snapshot.meta.index, rd.snapshot.meta.term);
  const last = rd.entries.at(-1);
  if (last) r.stableTo(last.index, last.term);
}

/** Cores wired by hand: `deliver` runs messages until quiet, dropping those to or from cut-off nodes. */
class Net {
  readonly nodes = new Map<string, RaftCore>();
  readonly cut = new Set<string>();
  readonly sent: Message[] = [];
  /** Read states each node produced, in order. */
  readonly reads = new Map<string, { index: number; context: string }[]>();
  constructor(ids: string[], extra: Partial<RaftCoreOptions> = {}, learners: string[] = []) {
    for (const [i, id] of [...ids, ...learners].entries()) {
      this.nodes.set(id, new RaftCore({ id, random: seededRandom(i + 1), peers: { voters: ids, learners }, ...extra }));
    }
  }
  n(id: string): RaftCore {
    return this.nodes.get(id) as RaftCore;
  }
  /** Drains every node's Ready; returns the messages produced. */
  collect(): Message[] {
    const out: Message[] = [];
    for (const [id, r] of this.nodes) {
      while (r.hasReady()) {
        const rd = r.ready();
        persisted(r, rd);
        out.push(...rd.messages);
        const list = this.reads.get(id) ?? [];
        list.push(...rd.readStates.map((s) => ({ index: s.index, context: new TextDecoder().decode(s.context) })));
        this.reads.set(id, list);
      }
    }
    return out;
  }
  deliver(max = 10_000): void {
    for (let round = 0; round < max; round++) {
      const msgs = this.collect().filter((m) => !this.cut.has(m.from) && !this.cut.has(m.to));
      if (msgs.length === 0) return;
      for (const m of msgs) {
        this.sent.push(m);
        this.nodes.get(m.to)?.step(m);
      }
    }
  }
  tick(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const r of this.nodes.values()) r.tick();
      this.deliver();
    }
  }
  elect(id: string): void {
    this.n(id).campaign();
    this.deliver();
    expect(this.n(id).currentRole).toBe('leader');
  }
}

describe('RaftCore: elections', () => {
  it('elects a leader with a pre-vote round, then a vote round, and appends a no-op', () => {
    const net = new Net(['a', 'b', 'c']);
    net.n('a').campaign();
    const pre = net.collect();
    expect(pre.map((m) => `${m.type}:${m.to}:${m.term}`)).toEqual(['preVote:b:1', 'preVote:c:1']);
    expect(net.n('a').currentTerm).toBe(0); // pre-vote does not bump the term
    for (const m of pre) net.n(m.to).step(m);
    const preResp = net.collect();
    expect(preResp.map((m) => `${m.type}:${m.from}:${m.reject}`)).toEqual(['preVoteResponse:b:false', 'preVoteResponse:c:false']);
    net.n('a').step(preResp[0] as Message);
    const votes = net.collect();
    expect(votes.map((m) => `${m.type}:${m.to}:${m.term}`)).toEqual(['vote:b:1', 'vote:c:1']);
    for (const m of votes) net.n(m.to).step(m);
    for (const m of net.collect()) net.n(m.to).step(m);
    expect(net.n('a').currentRole).toBe('leader');
    expect(net.n('a').currentTerm).toBe(1);
    net.deliver();
    for (const id of ['a', 'b', 'c']) {
      expect(net.n(id).lastIndex()).toBe(1);
      expect(net.n(id).commitIndex).toBe(1);
      expect(net.n(id).currentLeader).toBe('a');
    }
  });

  it('a follower with a stale log cannot win (election restriction)', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('c');
    net.n('a').propose(enc('x'));
    net.deliver();
    net.cut.delete('c');
    net.n('c').campaign();
    net.deliver();
    expect(net.n('c').currentRole).not.toBe('leader');
    expect(net.n('a').currentRole).toBe('leader');
  });

  it('pre-vote: a partitioned node does not raise its term or disrupt the leader when it returns', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('c');
    net.tick(100);
    expect(net.n('c').currentTerm).toBe(1);
    expect(['follower', 'preCandidate']).toContain(net.n('c').currentRole);
    net.cut.delete('c');
    net.tick(3);
    expect(net.n('a').currentRole).toBe('leader');
    expect(net.n('a').currentTerm).toBe(1);
  });

  it('without pre-vote the same partitioned node does raise its term', () => {
    const net = new Net(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    net.elect('a');
    net.cut.add('c');
    net.tick(100);
    expect(net.n('c').currentTerm).toBeGreaterThan(1);
  });

  it('check-quorum: an isolated leader steps down within an election timeout; the rest elect a new one', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('a');
    net.tick(40);
    expect(net.n('a').currentRole).not.toBe('leader');
    expect(net.n('a').currentTerm).toBe(1);
    const leaders = ['b', 'c'].filter((id) => net.n(id).currentRole === 'leader');
    expect(leaders).toHaveLength(1);
  });

  it('grants at most one vote per term', () => {
    const net = new Net(['a', 'b', 'c'], { preVote: false });
    const c = net.n('c');
    const vote = (from: string): Message => ({ type: 'vote', from, to: 'c', term: 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 });
    c.step(vote('a'));
    c.step(vote('b'));
    const resp = c.ready().messages;
    expect(resp.map((m) => `${m.to}:${m.reject}`)).toEqual(['a:false', 'b:true']);
    expect(c.hardState()).toEqual({ term: 5, vote: 'a', commit: 0 });
  });
});

describe('RaftCore: replication', () => {
  it('replicates and commits proposals, batching those made between two ready() calls', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.sent.length = 0;
    for (let i = 0; i < 5; i++) net.n('a').propose(enc(`v${i}`));
    net.deliver();
    const appendsToB = net.sent.filter((m) => m.type === 'append' && m.to === 'b' && m.entries.length > 0);
    expect(appendsToB).toHaveLength(1);
    expect(appendsToB[0]?.entries).toHaveLength(5);
    for (const id of ['a', 'b', 'c']) expect(net.n(id).commitIndex).toBe(6);
  });

  it('a follower drops its conflicting uncommitted suffix for the leader entries', () => {
    // without check-quorum the followers' lease does not hold back the scripted campaigns
    const net = new Net(['a', 'b', 'c'], { checkQuorum: false });
    net.elect('a');
    // a appends two entries only it holds, then is cut off
    net.cut.add('b');
    net.cut.add('c');
    net.n('a').propose(enc('lost1'));
    net.n('a').propose(enc('lost2'));
    net.deliver();
    net.cut.clear();
    net.cut.add('a');
    net.n('b').campaign();
    net.deliver();
    expect(net.n('b').currentRole).toBe('leader');
    net.n('b').propose(enc('kept'));
    net.deliver();
    net.cut.clear();
    net.tick(2);
    const a = net.n('a');
    expect(a.currentLeader).toBe('b');
    expect(a.entries(1).map((e) => new TextDecoder().decode(e.data))).toEqual(['', '', 'kept']);
    expect(a.commitIndex).toBe(3);
  });

  it('never commits an entry of an earlier term by counting replicas (Raft §5.4.2)', () => {
    const net = new Net(['a', 'b', 'c', 'd', 'e'], { checkQuorum: false });
    net.elect('a');
    // term 1: a replicates entry 2 only to b
    for (const id of ['c', 'd', 'e']) net.cut.add(id);
    net.n('a').propose(enc('t1'));
    net.deliver();
    expect(net.n('a').commitIndex).toBe(1);
    // a crashes; c wins term 2 (votes of d, e) and keeps its own entry local
    net.cut.clear();
    net.cut.add('a');
    net.cut.add('b');
    net.n('c').campaign();
    net.deliver();
    expect(net.n('c').currentRole).toBe('leader');
    // a comes back as leader of term 3 with b, c; it has entry 2 (term 1) on a, b and can reach c, but not d, e.
    // Replicating entry 2 to c makes a majority of term-1 copies, which alone must not commit it.
    net.cut.clear();
    for (const id of ['d', 'e']) net.cut.add(id);
    net.tick(60);
    const leader = ['a', 'b', 'c'].find((id) => net.n(id).currentRole === 'leader') as string;
    const l = net.n(leader);
    // whatever it committed, it committed through an entry of its own term
    expect(l.termAt(l.commitIndex)).toBe(l.currentTerm);
  });
});

describe('RaftCore: snapshots', () => {
  it('sends a snapshot to a follower that needs compacted entries', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('c');
    for (let i = 0; i < 10; i++) net.n('a').propose(enc(`v${i}`));
    net.deliver();
    const a = net.n('a');
    const snap: Snapshot = { meta: { index: 8, term: 1, confState: a.confState }, data: enc('state@8') };
    a.compact(snap);
    expect(a.firstIndex()).toBe(9);
    net.cut.delete('c');
    net.sent.length = 0;
    net.tick(2);
    expect(net.sent.some((m) => m.type === 'snapshot' && m.to === 'c')).toBe(true);
    const c = net.n('c');
    expect(c.firstIndex()).toBe(9);
    expect(c.lastIndex()).toBe(11);
    expect(c.commitIndex).toBe(11);
    expect(a.progressOf('c')?.match).toBe(11);
  });

  it('hands a received snapshot to the driver in ready()', () => {
    const c = new RaftCore({ id: 'c', random: seededRandom(1), peers: { voters: ['a', 'b', 'c'], learners: [] } });
    const snapshot: Snapshot = { meta: { index: 20, term: 3, confState: { voters: ['a', 'b', 'c'], learners: [] } }, data: enc('s') };
    c.step({ type: 'snapshot', from: 'a', to: 'c', term: 3, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, snapshot });
    const rd = c.ready();
    expect(rd.snapshot).toEqual(snapshot);
    expect(rd.hardState).toEqual({ term: 3, vote: '', commit: 20 });
    expect(rd.messages[0]).toMatchObject({ type: 'appendResponse', to: 'a', index: 20, reject: false });
  });

  it('refuses to compact past the applied index', () => {
    const net = new Net(['a']);
    net.elect('a');
    net.n('a').propose(enc('x'));
    expect(() => net.n('a').compact({ meta: { index: 2, term: 1, confState: net.n('a').confState }, data: enc('') })).toThrow(
      /not an applied entry/,
    );
  });
});

describe('RaftCore: message sizes and snapshot streaming', () => {
  it('cuts appends by encoded size so that every message fits, and refuses a command that never could', () => {
    const limit = 4096;
    const net = new Net(['a', 'b', 'c'], { maxSizePerMsg: limit });
    net.elect('a');
    const a = net.n('a');
    for (let i = 0; i < 40; i++) a.propose(new Uint8Array(900).fill(i));
    net.deliver();
    const appends = net.sent.filter((m) => m.type === 'append' && m.entries.length > 0);
    expect(appends.length).toBeGreaterThan(10);
    for (const m of appends) expect(encodeRaftMessage(m, 'cluster-with-a-name').length).toBeLessThanOrEqual(limit);
    expect(net.n('b').commitIndex).toBe(41);
    expect(() => a.propose(new Uint8Array(limit))).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
  });

  it('streams a snapshot larger than a message in chunks, re-sends lost chunks and resumes after a stall', () => {
    const limit = 4096;
    const net = new Net(['a', 'b', 'c'], { maxSizePerMsg: limit });
    net.elect('a');
    const a = net.n('a');
    net.cut.add('c');
    a.propose(enc('x'));
    net.deliver();
    const data = new Uint8Array(100_000).map((_, i) => i % 251);
    a.compact({ meta: { index: 2, term: 1, confState: a.confState }, data });
    net.cut.delete('c');
    // lose every 7th chunk on the way
    let chunks = 0;
    const c = net.n('c');
    const step = c.step.bind(c);
    c.step = (m: Message) => {
      if (m.type === 'snapshot' && ++chunks % 7 === 0) return;
      step(m);
    };
    let installed: Snapshot | undefined;
    for (let i = 0; i < 200 && c.commitIndex < 2; i++) {
      for (const [id, r] of net.nodes) {
        while (r.hasReady()) {
          const rd = r.ready();
          persisted(r, rd);
          if (id === 'c' && rd.snapshot) installed = rd.snapshot;
          for (const m of rd.messages) {
            expect(encodeRaftMessage(m, 'cluster-with-a-name').length).toBeLessThanOrEqual(limit);
            if (!net.cut.has(m.to)) net.n(m.to).step(m);
          }
        }
      }
      if (i % 5 === 4) for (const r of net.nodes.values()) r.tick();
    }
    expect(installed?.data).toEqual(data);
    expect(chunks).toBeGreaterThan(100_000 / limit);
    expect(a.progressOf('c')?.match).toBe(2);
  });

  it('resumes a snapshot stream at the offset the follower holds', () => {
    const limit = 4096;
    const net = new Net(['a', 'b', 'c'], { maxSizePerMsg: limit, maxSnapshotChunksInflight: 2 });
    net.elect('a');
    const a = net.n('a');
    net.cut.add('c');
    a.propose(enc('x'));
    net.deliver();
    a.compact({ meta: { index: 2, term: 1, confState: a.confState }, data: new Uint8Array(60_000).fill(3) });
    net.cut.delete('c');
    const toC: number[] = [];
    /** Delivers messages (ticking when idle) until `stop` holds; messages to cut nodes are lost. */
    const pump = (stop: () => boolean) => {
      for (let i = 0; i < 500 && !stop(); i++) {
        const msgs = net.collect();
        if (msgs.length === 0) for (const r of net.nodes.values()) r.tick();
        for (const m of msgs) {
          if (net.cut.has(m.to) || net.cut.has(m.from)) continue;
          if (m.type === 'snapshot' && m.to === 'c') toC.push(m.snapshotOffset ?? 0);
          net.n(m.to).step(m);
        }
      }
    };
    pump(() => toC.length >= 8);
    net.cut.add('c');
    const held = Math.max(...toC);
    expect(held).toBeGreaterThan(limit * 4);
    // a stall of an election timeout restarts the stream; it resumes where c is, not at 0
    toC.length = 0;
    pump(() => a.progressOf('c')?.state !== 'snapshot');
    net.cut.delete('c');
    pump(() => net.n('c').commitIndex >= 2);
    expect(net.n('c').commitIndex).toBeGreaterThanOrEqual(2);
    expect(toC.filter((o) => o === 0).length).toBeLessThanOrEqual(1);
    expect(toC.filter((o) => o > 0 && o < held - limit)).toEqual([]);
  });
});

describe('RaftCore: durability of the leader copy', () => {
  it('the leader counts its own entry only once the driver reports it durable', () => {
    const a = new RaftCore({ id: 'a', random: seededRandom(1), peers: { voters: ['a'], learners: [] } });
    a.campaign();
    a.ready();
    expect(a.currentRole).toBe('leader');
    expect(a.commitIndex).toBe(0);
    a.stableTo(1, 1);
    const { index } = a.propose(enc('x'));
    expect(a.ready().committedEntries.map((e) => e.index)).toEqual([1]);
    expect(a.commitIndex).toBe(1);
    a.stableTo(index, 1);
    expect(a.commitIndex).toBe(2);
    // a stale report (an entry since replaced, or already stable) changes nothing
    a.stableTo(2, 7);
    expect(a.commitIndex).toBe(2);
  });
});

describe('RaftCore: membership', () => {
  it('adds a learner that replicates but does not vote, then promotes it and removes a voter', () => {
    const net = new Net(['a', 'b', 'c']);
    net.nodes.set('d', new RaftCore({ id: 'd', random: seededRandom(9), peers: { voters: ['a', 'b', 'c'], learners: [] } }));
    net.elect('a');
    const a = net.n('a');
    a.proposeConfChange({ type: 'addLearner', nodeId: 'd' });
    net.deliver();
    expect(a.confState).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    a.propose(enc('x'));
    net.deliver();
    net.tick(1);
    expect(net.n('d').commitIndex).toBe(a.commitIndex);
    expect(net.n('d').confState.learners).toEqual(['d']);
    a.proposeConfChange({ type: 'addVoter', nodeId: 'd' });
    net.deliver();
    expect(a.confState.voters).toEqual(['a', 'b', 'c', 'd']);
    a.proposeConfChange({ type: 'removeNode', nodeId: 'b' });
    net.deliver();
    expect(a.confState.voters).toEqual(['a', 'c', 'd']);
    // with b gone, a and d make a quorum of three voters
    net.cut.add('c');
    a.propose(enc('y'));
    net.deliver();
    expect(a.commitIndex).toBe(a.lastIndex());
  });

  it('allows one membership change at a time and none before the leader commits in its term', () => {
    const net = new Net(['a', 'b', 'c']);
    net.n('a').campaign();
    // collect the pre-votes and votes, but hold back the no-op's acknowledgements
    for (let i = 0; i < 4; i++) for (const m of net.collect()) if (m.type !== 'append') net.n(m.to).step(m);
    const a = net.n('a');
    expect(a.currentRole).toBe('leader');
    expect(() => a.proposeConfChange({ type: 'addLearner', nodeId: 'd' })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    net.tick(1);
    a.proposeConfChange({ type: 'addLearner', nodeId: 'd' });
    expect(() => a.proposeConfChange({ type: 'addLearner', nodeId: 'e' })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    net.deliver();
    expect(() => a.proposeConfChange({ type: 'addLearner', nodeId: 'd' })).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
    expect(() => a.proposeConfChange({ type: 'removeNode', nodeId: 'zz' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('a removed leader steps down and the others carry on', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.n('a').proposeConfChange({ type: 'removeNode', nodeId: 'a' });
    net.deliver();
    expect(net.n('a').currentRole).toBe('follower');
    net.cut.add('a');
    net.tick(40);
    expect(['b', 'c'].filter((id) => net.n(id).currentRole === 'leader')).toHaveLength(1);
    expect(net.n('b').confState.voters).toEqual(['b', 'c']);
  });
});

describe('RaftCore: reads and leadership transfer', () => {
  it('ReadIndex answers after a heartbeat round confirms leadership, on the leader and via a follower', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.n('a').propose(enc('x'));
    net.deliver();
    const a = net.n('a');
    a.readIndex(enc('r1'));
    const first = a.ready();
    expect(first.readStates).toEqual([]);
    expect(first.messages.filter((m) => m.type === 'heartbeat').length).toBe(2);
    for (const m of first.messages) net.n(m.to).step(m);
    net.deliver();
    // the states were drained by deliver(): ask again and look at them directly
    a.readIndex(enc('r2'));
    const rd = a.ready();
    for (const m of rd.messages) net.n(m.to).step(m);
    for (const m of net.collect()) a.step(m);
    expect(a.ready().readStates).toEqual([{ index: 2, context: enc('r2') }]);

    const b = net.n('b');
    b.readIndex(enc('rb'));
    const states: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      for (const r of net.nodes.values()) {
        while (r.hasReady()) {
          const x = r.ready();
          if (r === b) states.push(...x.readStates);
          for (const m of x.messages) net.n(m.to).step(m);
        }
      }
    }
    expect(states).toEqual([{ index: 2, context: enc('rb') }]);
  });

  it('ReadIndex does not answer while the leader cannot reach a quorum', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('b');
    net.cut.add('c');
    const a = net.n('a');
    a.readIndex(enc('r'));
    net.deliver();
    net.tick(3);
    expect(a.ready().readStates).toEqual([]);
  });

  it('a read whose heartbeat round was lost is confirmed by the next periodic heartbeat', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    const a = net.n('a');
    a.readIndex(enc('lost-round'));
    // the confirmation round goes nowhere
    expect(a.ready().messages.filter((m) => m.type === 'heartbeat')).toHaveLength(2);
    net.reads.clear();
    net.tick(1);
    expect(net.reads.get('a')).toEqual([{ index: 1, context: 'lost-round' }]);
  });

  it('lease reads: answered at once while a quorum answered a recent heartbeat, by a round trip otherwise', () => {
    const net = new Net(['a', 'b', 'c'], { readOnly: 'lease' });
    // with leases on, even a fresh node refuses votes for an election timeout
    net.n('a').campaign();
    net.deliver();
    expect(net.n('a').currentRole).not.toBe('leader');
    net.tick(10);
    if (net.n('a').currentRole !== 'leader') net.elect('a');
    const a = net.n('a');
    net.reads.clear();
    // a new leader has no lease yet: the read takes a heartbeat round
    a.readIndex(enc('first'));
    const first = a.ready();
    expect(first.readStates).toEqual([]);
    expect(first.messages.filter((m) => m.type === 'heartbeat')).toHaveLength(2);
    for (const m of first.messages) net.n(m.to).step(m);
    net.deliver();
    expect(net.reads.get('a')).toEqual([{ index: a.commitIndex, context: 'first' }]);
    // answered heartbeats give the lease: no round trip
    a.readIndex(enc('leased'));
    const leased = a.ready();
    expect(leased.readStates).toEqual([{ index: a.commitIndex, context: enc('leased') }]);
    expect(leased.messages).toEqual([]);
    // cut off, the lease runs out before an election timeout and reads need a quorum again
    net.cut.add('b');
    net.cut.add('c');
    net.tick(8);
    a.readIndex(enc('late'));
    expect(a.ready().readStates).toEqual([]);
  });

  it('lease reads: void once a leadership transfer sent TimeoutNow', () => {
    const net = new Net(['a', 'b', 'c'], { readOnly: 'lease' });
    net.tick(10);
    const leader = [...net.nodes.values()].find((n) => n.currentRole === 'leader') ?? (net.elect('a'), net.n('a'));
    net.tick(1);
    const target = leader.id === 'b' ? 'c' : 'b';
    // the transferee never answers: the transfer hangs and the old leader stays leader
    net.cut.add(target);
    leader.transferLeadership(target);
    net.deliver();
    net.cut.delete(target);
    leader.readIndex(enc('during-transfer'));
    const rd = leader.ready();
    expect(rd.readStates).toEqual([]);
    expect(rd.messages.some((m) => m.type === 'heartbeat')).toBe(true);
  });

  it('transfers leadership to an up-to-date follower, even while it is inside the old leader lease', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.n('a').propose(enc('x'));
    net.deliver();
    net.sent.length = 0;
    net.n('a').transferLeadership('c');
    net.deliver();
    expect(net.sent.some((m) => m.type === 'timeoutNow' && m.to === 'c')).toBe(true);
    expect(net.n('c').currentRole).toBe('leader');
    expect(net.n('a').currentRole).toBe('follower');
    expect(net.n('c').currentTerm).toBe(2);
  });

  it('rejects proposals on a follower with NOT_LEADER naming the leader', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    try {
      net.n('b').propose(enc('x'));
      throw new Error('no error');
    } catch (e) {
      expect(isEcpsError(e, 'NOT_LEADER')).toBe(true);
      expect((e as { details: { leader: string } }).details.leader).toBe('a');
    }
  });
});

describe('RaftCore: restart from persisted state', () => {
  it('keeps term, vote and log across a restart and refuses a commit beyond its log', () => {
    const net = new Net(['a', 'b', 'c']);
    net.elect('a');
    net.n('a').propose(enc('x'));
    net.deliver();
    const b = net.n('b');
    const entries: Entry[] = b.entries(1);
    const restarted = new RaftCore({ id: 'b', random: seededRandom(3), hardState: b.hardState(), entries, peers: b.confState });
    expect(restarted.currentTerm).toBe(1);
    expect(restarted.lastIndex()).toBe(2);
    expect(restarted.ready().committedEntries.map((e) => e.index)).toEqual([1, 2]);
    expect(
      () => new RaftCore({ id: 'b', random: seededRandom(3), hardState: { term: 1, vote: 'a', commit: 9 }, entries, peers: b.confState }),
    ).toThrow(/beyond the last index/);
  });
});
