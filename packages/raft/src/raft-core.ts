// SPDX-License-Identifier: Apache-2.0
// The Raft state machine (Ongaro & Ousterhout; Ongaro's thesis for pre-vote, check-quorum, ReadIndex, leadership
// transfer and single-server membership changes), pure and deterministic in the style of etcd/raft: inputs are
// `step(message)`, `tick()` and the propose/read/transfer calls; every effect comes out of `ready()`. No I/O, no
// clock, no randomness except the injected source that spreads election timeouts.
import { EcpsError, ValidationError, concatBytes, toHex } from '@ecps/core';
import type { RandomSource } from '@ecps/core';
import { applyConfChange, decodeConfChange, encodeConfChange } from './conf-change';
import { MESSAGE_OVERHEAD_BYTES, entryWireSize } from './message-codec';
import { Progress } from './progress';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SoftState,
} from './types';

export interface RaftCoreOptions {
  readonly id: NodeId;
  /** Ticks without a leader before a follower campaigns (randomised in [electionTick, 2*electionTick)). Default 10. */
  readonly electionTick?: number;
  /** Ticks between leader heartbeats. Default 1. */
  readonly heartbeatTick?: number;
  /** Campaign in a pre-vote round first so a partitioned node never disrupts a healthy leader. Default true. */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum within an election timeout. Default true. */
  readonly checkQuorum?: boolean;
  /** 'safe' (ReadIndex, a heartbeat round per read batch) or 'lease' (trusts the check-quorum lease; needs bounded clock drift). */
  readonly readOnly?: 'safe' | 'lease';
  /**
   * Upper bound on the encoded size of one message (appends are cut to fit, snapshots are sent in chunks that fit).
   * Set it to the network's limit: the driver does. Default 1 MiB.
   */
  readonly maxSizePerMsg?: number;
  /** Largest snapshot a follower accepts from a leader (memory bound). Default 1 GiB. */
  readonly maxSnapshotBytes?: number;
  /** Snapshot chunks in flight per follower. Default 4. */
  readonly maxSnapshotChunksInflight?: number;
  /**
   * Bound on the relative rate difference of any two members' clocks, for `readOnly: 'lease'` (0.05 = 5 %): the
   * lease is `(electionTick - 1) · (1 - d) / (1 + d)` ticks from the send of the last heartbeat a quorum answered.
   * Default 0.05.
   */
  readonly maxClockDrift?: number;
  /** Appends in flight per follower while replicating (pipelining window). Default 256. */
  readonly maxInflight?: number;
  /**
   * Entry bytes in flight per follower: keeps a slow follower (or a full transport buffer, which would drop best-effort
   * messages) from piling up data. Default 8 MiB.
   */
  readonly maxInflightBytes?: number;
  /** Spreads election timeouts. */
  readonly random: RandomSource;
  /** The persisted state to start from (what a storage's `load()` returns). */
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries?: readonly Entry[];
  /** Bootstrap configuration when there is no snapshot (every initial member gets the same list). */
  readonly peers?: ConfState;
}

const NONE = '';
const TRANSFER_CONTEXT = new TextEncoder().encode('transfer');
/** Longest read context accepted (it rides in heartbeats). */
const MAX_READ_CONTEXT = 128;

interface PendingRead {
  /** Hex of `wireContext`: what heartbeat responses echo. */
  readonly key: string;
  readonly wireContext: Uint8Array;
  readonly index: number;
  readonly from: NodeId;
  /** The requester's context, returned in its read state. */
  readonly context: Uint8Array;
  readonly acks: Set<NodeId>;
}

/** A snapshot being received in chunks. */
interface IncomingSnapshot {
  /** The leader streaming it (another leader's stream starts over: its bytes may differ). */
  readonly from: NodeId;
  readonly meta: Snapshot['meta'];
  readonly size: number;
  readonly chunks: Uint8Array[];
  received: number;
}

function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}


function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One Raft participant. Not thread-safe by design (single-threaded JS): drive it from one place.
 *
 * Invariants the tests check: Election Safety (one leader per term), Log Matching, Leader Completeness,
 * State Machine Safety (no two nodes apply different entries at one index).
 */
export class RaftCore {
  readonly id: NodeId;
  private term = 0;
  private vote: NodeId = NONE;
  private leader: NodeId = NONE;
  private role: Role = 'follower';

  // --- log: entries[i] has index offset + i; (snapIndex, snapTerm) = what precedes the first entry
  private log: Entry[] = [];
  private offset = 1;
  private snapTerm = 0;
  private snap: Snapshot | undefined;
  private commit = 0;
  private applied = 0;
  private unstableFrom = 1;
  /** The last index the driver reported durable (the leader counts its own copy only up to here). */
  private stable = 0;
  private pendingSnapshot: Snapshot | undefined;
  private incoming: IncomingSnapshot | undefined;

  private conf: ConfState;
  private confApplied = 0;
  private pendingConfIndex = 0;

  private readonly electionTick: number;
  private readonly heartbeatTick: number;
  private readonly preVoteEnabled: boolean;
  private readonly checkQuorum: boolean;
  private readonly readOnly: 'safe' | 'lease';
  private readonly maxSizePerMsg: number;
  private readonly maxSnapshotBytes: number;
  private readonly maxSnapshotChunksInflight: number;
  private readonly maxInflight: number;
  private readonly maxInflightBytes: number;
  /** Ticks a lease lasts from the send of the heartbeat a quorum answered; 0 = leases never valid. */
  private readonly leaseTicks: number;
  private readonly random: RandomSource;

  /** Ticks since this core was created: the leader stamps heartbeats with it. */
  private ticks = 0;
  /** A TimeoutNow went out in this term: a forced election may happen at any time, so the lease is void. */
  private leaseVoid = false;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private leadTransferee: NodeId = NONE;
  private pendingReads: PendingRead[] = [];
  private readsWaitingForCommit: Message[] = [];
  private readSeq = 0;
  private needBroadcast = false;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHard: HardState;
  private prevSoft: SoftState;

  /** @throws ValidationError `CONFIG_INVALID` for a bad option or persisted state that contradicts itself. */
  constructor(options: RaftCoreOptions) {
    this.id = options.id;
    this.electionTick = options.electionTick ?? 10;
    this.heartbeatTick = options.heartbeatTick ?? 1;
    if (this.heartbeatTick < 1 || this.electionTick <= this.heartbeatTick) {
      throw new ValidationError('CONFIG_INVALID', 'electionTick must exceed heartbeatTick, which must be >= 1');
    }
    this.preVoteEnabled = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.readOnly = options.readOnly ?? 'safe';
    if (this.readOnly === 'lease' && !this.checkQuorum) {
      throw new ValidationError('CONFIG_INVALID', "readOnly 'lease' needs checkQuorum");
    }
    this.maxSizePerMsg = options.maxSizePerMsg ?? 1024 * 1024;
    if (this.maxSizePerMsg < 4 * MESSAGE_OVERHEAD_BYTES) {
      throw new ValidationError('CONFIG_INVALID', `maxSizePerMsg must be at least ${4 * MESSAGE_OVERHEAD_BYTES} bytes`);
    }
    this.maxSnapshotBytes = options.maxSnapshotBytes ?? 1024 * 1024 * 1024;
    this.maxSnapshotChunksInflight = Math.max(1, options.maxSnapshotChunksInflight ?? 4);
    const drift = options.maxClockDrift ?? 0.05;
    if (!(drift >= 0 && drift < 1)) throw new ValidationError('CONFIG_INVALID', 'maxClockDrift must be in [0, 1)');
    this.leaseTicks = Math.floor(((this.electionTick - 1) * (1 - drift)) / (1 + drift));
    this.maxInflight = options.maxInflight ?? 256;
    this.maxInflightBytes = options.maxInflightBytes ?? 8 * 1024 * 1024;
    this.random = options.random;

    const snap = options.snapshot;
    if (snap !== undefined && snap.meta.index > 0) {
      this.snap = snap;
      this.offset = snap.meta.index + 1;
      this.snapTerm = snap.meta.term;
      this.commit = snap.meta.index;
      this.applied = snap.meta.index;
      this.confApplied = snap.meta.index;
      this.conf = snap.meta.confState;
    } else {
      this.conf = options.peers ?? { voters: [], learners: [] };
    }
    for (const e of options.entries ?? []) {
      if (e.index < this.offset) continue;
      if (e.index !== this.lastIndex() + 1) {
        throw new ValidationError('CONFIG_INVALID', `persisted log has a gap before index ${e.index}`);
      }
      this.log.push(e);
    }
    this.unstableFrom = this.lastIndex() + 1;
    // what the storage handed us is durable
    this.stable = this.lastIndex();
    const hs = options.hardState;
    if (hs !== undefined) {
      if (hs.commit > this.lastIndex()) {
        throw new ValidationError('CONFIG_INVALID', `commit ${hs.commit} is beyond the last index ${this.lastIndex()}`);
      }
      this.term = hs.term;
      this.vote = hs.vote;
      this.commit = Math.max(this.commit, hs.commit);
    }
    // committed membership changes are known to be safe: take them now, not only when re-applied
    for (let i = this.confApplied + 1; i <= this.commit; i++) {
      const e = this.entryAt(i);
      if (e?.type === 'conf') this.applyConf(e);
    }
    this.prevHard = this.hardState();
    this.prevSoft = { leader: NONE, role: 'follower' };
    this.becomeFollower(this.term, NONE);
  }

  // ------------------------------------------------------------------ queries

  get currentTerm(): number {
    return this.term;
  }
  get currentLeader(): NodeId {
    return this.leader;
  }
  get currentRole(): Role {
    return this.role;
  }
  get commitIndex(): number {
    return this.commit;
  }
  get appliedIndex(): number {
    return this.applied;
  }
  get confState(): ConfState {
    return this.conf;
  }
  /** The snapshot the log is compacted to, if any. */
  get snapshot(): Snapshot | undefined {
    return this.snap;
  }
  /** The follower progress the leader tracks (for tests and status pages). */
  progressOf(id: NodeId): { match: number; next: number; state: string } | undefined {
    const p = this.progress.get(id);
    return p && { match: p.match, next: p.next, state: p.state };
  }
  lastIndex(): number {
    return this.offset - 1 + this.log.length;
  }
  firstIndex(): number {
    return this.offset;
  }
  /** The term of the entry at `index`; undefined when compacted away or beyond the log. */
  termAt(index: number): number | undefined {
    if (index === this.offset - 1) return this.snapTerm;
    return this.entryAt(index)?.term;
  }
  /** The entries from `lo` to `hi` inclusive that are still in memory. */
  entries(lo: number, hi = this.lastIndex()): Entry[] {
    return this.log.slice(Math.max(lo, this.offset) - this.offset, hi - this.offset + 1);
  }
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }
  private lastTerm(): number {
    return this.termAt(this.lastIndex()) ?? 0;
  }
  private entryAt(index: number): Entry | undefined {
    return this.log[index - this.offset];
  }
  private isVoter(id: NodeId): boolean {
    return this.conf.voters.includes(id);
  }
  private promotable(): boolean {
    return this.isVoter(this.id);
  }

  // ------------------------------------------------------------------ driver API

  /** True when {@link ready} has something to do. */
  hasReady(): boolean {
    if (this.needBroadcast || this.msgs.length > 0 || this.readStates.length > 0) return true;
    if (this.pendingSnapshot !== undefined || this.unstableFrom <= this.lastIndex()) return true;
    if (this.commit > this.applied) return true;
    const hs = this.prevHard;
    if (hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.commit) return true;
    return this.prevSoft.leader !== this.leader || this.prevSoft.role !== this.role;
  }

  /**
   * Everything the driver must do now (see {@link Ready} for the order). Calling it hands the committed entries
   * over: the core assumes the driver applies them before the next call and applies membership changes itself.
   */
  ready(): Ready {
    if (this.needBroadcast) {
      this.needBroadcast = false;
      if (this.role === 'leader') this.bcastAppend();
    }
    const hs = this.hardState();
    const hsChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
    const mustSync = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || this.unstableFrom <= this.lastIndex() || this.pendingSnapshot !== undefined;
    const soft: SoftState = { leader: this.leader, role: this.role };
    const softChanged = soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role;
    const entries = this.entries(this.unstableFrom);
    const snapshot = this.pendingSnapshot;
    const applyTo = this.commit;
    const committedEntries = this.entries(this.applied + 1, applyTo);
    for (const e of committedEntries) if (e.type === 'conf' && e.index > this.confApplied) this.applyConf(e);
    const rd: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hsChanged ? { hardState: hs } : {}),
      entries,
      ...(snapshot ? { snapshot } : {}),
      committedEntries,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync,
    };
    this.prevHard = hs;
    this.prevSoft = soft;
    this.unstableFrom = this.lastIndex() + 1;
    this.pendingSnapshot = undefined;
    this.applied = Math.max(this.applied, applyTo);
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  /** Advances logical time by one tick (the driver decides how long a tick is; etcd uses 100 ms). */
  tick(): void {
    this.ticks++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /**
   * The storage made everything up to the entry (`index`, `term`) durable (or the snapshot at `index`). Ignored when
   * that entry has since been replaced. The leader counts its own copy towards commitment only from here.
   */
  stableTo(index: number, term: number): void {
    if (index <= this.stable || index > this.lastIndex() || this.termAt(index) !== term) return;
    this.stable = index;
    if (this.role !== 'leader') return;
    const self = this.progress.get(this.id);
    if (self?.maybeUpdate(index) && this.maybeCommit()) this.bcastAppend();
  }

  /** The largest command `propose` accepts: what fits one message with the framing. */
  get maxEntryBytes(): number {
    return this.maxSizePerMsg - MESSAGE_OVERHEAD_BYTES - 32;
  }

  /**
   * Appends `data` as a new entry. Entries proposed between two `ready()` calls go out in one append (batching).
   * @returns the entry's index and term; it is applied at that index unless a new leader overwrites it.
   * @throws EcpsError `NOT_LEADER` (details.leader = the known leader) when this node is not the leader;
   *   `UNAVAILABLE` while a leadership transfer is in progress.
   */
  propose(data: Uint8Array): { index: number; term: number } {
    if (data.length > this.maxEntryBytes) {
      throw new EcpsError('MESSAGE_TOO_LARGE', `a command of ${data.length} bytes exceeds the ${this.maxEntryBytes}-byte limit`, {
        details: { size: data.length, limit: this.maxEntryBytes },
      });
    }
    return this.appendProposal('normal', data);
  }

  /**
   * Proposes one membership change (single-server changes, thesis §4.1). Allowed once the leader has committed an
   * entry of its term and every earlier change is applied.
   * @throws EcpsError `NOT_LEADER`, `UNAVAILABLE`, `CONFLICT` (a change is in progress), `INVALID_ARGUMENT`
   *   (removing a node that is not a member), `ALREADY_EXISTS` (adding what is already there).
   */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    this.assertLeader();
    if (this.pendingConfIndex > this.applied) {
      throw new EcpsError('CONFLICT', 'a membership change (or the leader start-up) is still being applied', {
        details: { pendingIndex: this.pendingConfIndex, applied: this.applied },
      });
    }
    const isVoter = this.conf.voters.includes(cc.nodeId);
    const isLearner = this.conf.learners.includes(cc.nodeId);
    if (cc.type === 'removeNode' && !isVoter && !isLearner) {
      throw new EcpsError('INVALID_ARGUMENT', `'${cc.nodeId}' is not a member`);
    }
    if ((cc.type === 'addVoter' && isVoter) || (cc.type === 'addLearner' && (isVoter || isLearner))) {
      throw new EcpsError('ALREADY_EXISTS', `'${cc.nodeId}' is already a ${isVoter ? 'voter' : 'learner'}`);
    }
    if (cc.type === 'removeNode' && isVoter && this.conf.voters.length === 1) {
      throw new EcpsError('INVALID_ARGUMENT', 'cannot remove the last voter');
    }
    const r = this.appendProposal('conf', encodeConfChange(cc));
    this.pendingConfIndex = r.index;
    return r;
  }

  /**
   * Asks for a linearizable read point. The answer arrives as a {@link ReadState} carrying `context` (on this node,
   * also when it is a follower: the leader is asked). Lost requests are not retried: the caller times out and retries.
   * @throws ValidationError `INVALID_ARGUMENT` for an empty context or one over 128 bytes.
   */
  readIndex(context: Uint8Array): void {
    if (context.length === 0 || context.length > MAX_READ_CONTEXT) {
      throw new ValidationError('INVALID_ARGUMENT', `a read context must have 1 to ${MAX_READ_CONTEXT} bytes`);
    }
    this.step(this.msg('readIndex', this.id, { context }));
  }

  /** Asks the leader to hand leadership to `transferee` (thesis §3.10). Lost requests are not retried. */
  transferLeadership(transferee: NodeId): void {
    this.step(this.msg('transferLeader', this.id, { from: transferee }));
  }

  /** Starts an election now (bootstrap of a single node, tests). Followers only. */
  campaign(): void {
    if (this.role !== 'leader') this.startCampaign(this.preVoteEnabled ? 'pre' : 'election');
  }

  /**
   * Compacts the log up to the driver's snapshot (taken from a state machine that applied exactly `meta.index`).
   * @throws ValidationError `INVALID_ARGUMENT` when the snapshot is not at an applied index still in the log.
   */
  compact(snapshot: Snapshot): void {
    const { index } = snapshot.meta;
    if (index <= this.offset - 1) return;
    if (index > this.applied || this.termAt(index) !== snapshot.meta.term) {
      throw new ValidationError('INVALID_ARGUMENT', `snapshot at ${index} is not an applied entry of this log`);
    }
    this.log = this.log.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.snapTerm = snapshot.meta.term;
    this.snap = snapshot;
  }

  /** Processes one message from the network (or a local request). Unknown senders and stale messages are ignored. */
  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = sameBytes(m.context, TRANSFER_CONTEXT);
        // with lease reads a restarted node also waits an election timeout: a leader may count on its earlier answers
        const startupLease = this.readOnly === 'lease' && this.ticks < this.electionTick;
        const inLease = this.checkQuorum && ((this.leader !== NONE && this.electionElapsed < this.electionTick) || startupLease);
        // a node that hears from a live leader does not help depose it (thesis §4.2.3)
        if (!force && inLease) return;
      }
      if (m.type === 'preVote') {
        // pre-votes never change our term
      } else if (m.type === 'preVoteResponse' && !m.reject) {
        // granted pre-votes carry the term we would campaign in
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term && m.term !== 0) {
      if ((this.checkQuorum || this.preVoteEnabled) && (m.type === 'append' || m.type === 'heartbeat')) {
        // tell a stale leader about the new term, or it never learns it while we ignore its pre-votes
        this.send(this.msg('appendResponse', m.from));
      } else if (m.type === 'preVote') {
        this.send(this.msg('preVoteResponse', m.from, { reject: true }));
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  // ------------------------------------------------------------------ roles

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTick + this.random.int(this.electionTick);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.resetTimers();
    this.votes.clear();
    this.leadTransferee = NONE;
    this.pendingReads = [];
    this.readsWaitingForCommit = [];
    this.progress.clear();
    this.needBroadcast = false;
  }

  private becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.leaseVoid = false;
    for (const id of [...this.conf.voters, ...this.conf.learners]) this.addProgress(id);
    const self = this.progress.get(this.id);
    // the no-op of thesis §6.4: commits the previous terms' entries and opens the way to ReadIndex and conf changes
    this.appendEntry('normal', new Uint8Array(0));
    if (self) self.becomeReplicate();
    this.pendingConfIndex = this.lastIndex();
    this.needBroadcast = true;
  }

  private addProgress(id: NodeId): void {
    const p = new Progress(this.lastIndex() + 1, this.maxInflight, this.maxInflightBytes);
    if (id === this.id) p.match = Math.min(this.stable, this.lastIndex());
    p.recentActive = true;
    this.progress.set(id, p);
  }

  private startCampaign(kind: 'pre' | 'election' | 'transfer'): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.reset(this.term);
      this.role = 'preCandidate';
      voteTerm = this.term + 1;
      type = 'preVote';
    } else {
      this.reset(this.term + 1);
      this.role = 'candidate';
      this.vote = this.id;
      voteTerm = this.term;
      type = 'vote';
    }
    this.votes.set(this.id, true);
    if (this.tally() === 'won') {
      if (kind === 'pre') this.startCampaign('election');
      else this.becomeLeader();
      return;
    }
    for (const v of this.conf.voters) {
      if (v === this.id) continue;
      this.send({
        ...this.msg(type, v),
        term: voteTerm,
        index: this.lastIndex(),
        logTerm: this.lastTerm(),
        ...(kind === 'transfer' ? { context: TRANSFER_CONTEXT } : {}),
      });
    }
  }

  private tally(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const v of this.conf.voters) {
      const r = this.votes.get(v);
      if (r === true) granted++;
      else if (r === false) rejected++;
    }
    const q = quorum(this.conf.voters.length);
    if (granted >= q) return 'won';
    if (rejected >= q) return 'lost';
    return 'pending';
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startCampaign(this.preVoteEnabled ? 'pre' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTick) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        let active = 0;
        for (const v of this.conf.voters) if (v === this.id || this.progress.get(v)?.recentActive) active++;
        if (active < quorum(this.conf.voters.length)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, p] of this.progress) p.recentActive = id === this.id;
      }
      // a transfer that did not finish within an election timeout is abandoned (thesis §3.10)
      this.leadTransferee = NONE;
    }
    for (const [id, p] of this.progress) {
      // a stalled snapshot stream restarts; the follower tells where to resume
      if (id !== this.id && p.state === 'snapshot' && ++p.snapshotTicks >= this.electionTick) {
        p.becomeProbe();
        this.sendAppend(id);
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTick) {
      this.heartbeatElapsed = 0;
      // re-asks the newest pending read: its confirmation releases every earlier one too
      this.bcastHeartbeat(this.pendingReads.at(-1)?.wireContext);
    }
  }

  // ------------------------------------------------------------------ votes

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === 'preVote';
    const respType = isPre ? 'preVoteResponse' : 'voteResponse';
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.leader === NONE) || (isPre && m.term > this.term);
    const upToDate = m.logTerm > this.lastTerm() || (m.logTerm === this.lastTerm() && m.index >= this.lastIndex());
    if (canVote && upToDate) {
      this.send({ ...this.msg(respType, m.from), term: m.term });
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(this.msg(respType, m.from, { reject: true }));
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResponse' : 'voteResponse';
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'voteResponse':
      case 'preVoteResponse': {
        if (m.type !== myResp || this.votes.has(m.from)) return;
        this.votes.set(m.from, !m.reject);
        const result = this.tally();
        if (result === 'won') {
          if (this.role === 'preCandidate') this.startCampaign('election');
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  // ------------------------------------------------------------------ follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case 'transferLeader':
        if (this.leader !== NONE) this.send({ ...m, to: this.leader, term: this.term });
        return;
      case 'timeoutNow':
        this.startCampaign('transfer');
        return;
      case 'readIndex':
        if (this.leader !== NONE) this.send({ ...m, from: this.id, to: this.leader, term: this.term });
        return;
      case 'readIndexResponse':
        if (m.context) this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.commit) {
      this.send(this.msg('appendResponse', m.from, { index: this.commit }));
      return;
    }
    if (this.termAt(m.index) === m.logTerm) {
      const lastNew = m.index + m.entries.length;
      for (const e of m.entries) {
        if (this.termAt(e.index) === e.term) continue;
        if (e.index <= this.commit) {
          throw new EcpsError('INTERNAL', `leader ${m.from} overwrites committed entry ${e.index}`);
        }
        // conflict (or new): drop our suffix from here and take the leader's entries
        this.log.length = e.index - this.offset;
        this.unstableFrom = Math.min(this.unstableFrom, e.index);
        this.stable = Math.min(this.stable, e.index - 1);
        for (const n of m.entries) if (n.index >= e.index) this.log.push(n);
        break;
      }
      this.commitTo(Math.min(m.commit, lastNew));
      this.send(this.msg('appendResponse', m.from, { index: lastNew }));
    } else {
      this.send(
        this.msg('appendResponse', m.from, {
          index: m.index,
          reject: true,
          rejectHint: Math.min(m.index, this.lastIndex()),
        }),
      );
    }
  }

  private handleHeartbeat(m: Message): void {
    this.commitTo(Math.min(m.commit, this.lastIndex()));
    this.send(this.msg('heartbeatResponse', m.from, { index: m.index, ...(m.context ? { context: m.context } : {}) }));
  }

  /** One chunk of a snapshot stream; installs the snapshot once every byte is here. */
  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (s.meta.index <= this.commit) {
      // nothing to install: tell the leader where we are
      this.send(this.msg('appendResponse', m.from, { index: this.commit }));
      return;
    }
    const offset = m.snapshotOffset ?? 0;
    const size = m.snapshotSize ?? s.data.length;
    let inc = this.incoming;
    if (!inc || inc.from !== m.from || inc.meta.index !== s.meta.index || inc.meta.term !== s.meta.term || inc.size !== size) {
      if (size > this.maxSnapshotBytes) {
        this.incoming = undefined;
        this.send(this.msg('snapshotAck', m.from, { index: s.meta.index, reject: true }));
        return;
      }
      inc = { from: m.from, meta: s.meta, size, chunks: [], received: 0 };
      this.incoming = inc;
    }
    if (offset === inc.received && s.data.length > 0 && inc.received + s.data.length <= size) {
      inc.chunks.push(s.data);
      inc.received += s.data.length;
    }
    if (inc.received < size) {
      this.send(this.msg('snapshotAck', m.from, { index: s.meta.index, snapshotOffset: inc.received }));
      return;
    }
    this.incoming = undefined;
    const data = inc.chunks.length === 1 ? (inc.chunks[0] as Uint8Array) : concatBytes(inc.chunks, size);
    if (this.restore({ meta: inc.meta, data })) {
      this.send(this.msg('appendResponse', m.from, { index: this.lastIndex() }));
    } else {
      this.send(this.msg('appendResponse', m.from, { index: this.commit }));
    }
  }

  private restore(s: Snapshot): boolean {
    const { index, term } = s.meta;
    if (index <= this.commit) return false;
    if (this.termAt(index) === term) {
      // we already hold the snapshot's last entry: just move commit forward
      this.commitTo(index);
      return false;
    }
    this.log = [];
    this.offset = index + 1;
    this.snapTerm = term;
    this.snap = s;
    this.commit = index;
    this.applied = index;
    this.confApplied = index;
    this.unstableFrom = index + 1;
    this.stable = Math.min(this.stable, index - 1);
    this.pendingSnapshot = s;
    this.conf = s.meta.confState;
    return true;
  }

  private commitTo(index: number): void {
    if (index > this.commit) this.commit = index;
  }

  // ------------------------------------------------------------------ leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResponse':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResponse':
        this.handleHeartbeatResponse(m);
        return;
      case 'readIndex':
        this.handleReadIndex(m);
        return;
      case 'transferLeader':
        this.handleTransfer(m.from);
        return;
      case 'snapshotAck':
        this.handleSnapshotAck(m);
        return;
      default:
        return;
    }
  }

  private handleSnapshotAck(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (pr.state !== 'snapshot' || m.index !== pr.pendingSnapshot) return;
    if (m.reject) {
      // the follower cannot take a snapshot this large; retried after the stall timeout
      return;
    }
    const held = Math.min(m.snapshotOffset ?? 0, pr.snapshotSent);
    if (held > pr.snapshotAcked) {
      pr.snapshotAcked = held;
      pr.snapshotTicks = 0;
    } else if (held < pr.snapshotAcked) {
      // the follower lost what it had (a restart): start again from what it holds
      pr.snapshotAcked = held;
      pr.snapshotSent = held;
    } else if (held < pr.snapshotSent && pr.snapshotResentFrom !== held) {
      // a repeated answer while chunks are in flight: the chunk at `held` was lost (resend once per position)
      pr.snapshotResentFrom = held;
      pr.snapshotSent = held;
    }
    this.sendSnapshotChunks(m.from, pr);
  }

  private handleAppendResponse(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      if (pr.maybeDecrTo(m.index, m.rejectHint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.freeTo(m.index);
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // pipelining: keep the window full
    while (this.sendAppend(m.from, false)) {
      /* sent one more */
    }
    if (m.from === this.leadTransferee && pr.match === this.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (m.index <= this.ticks && m.index > pr.ackedStamp) pr.ackedStamp = m.index;
    if (pr.state === 'replicate') pr.freeFirst();
    if (pr.match < this.lastIndex()) this.sendAppend(m.from);
    if (!m.context || !this.isVoter(m.from)) return;
    const key = toHex(m.context);
    const at = this.pendingReads.findIndex((r) => r.key === key);
    const read = this.pendingReads[at];
    if (!read) return;
    read.acks.add(m.from);
    if (read.acks.size < quorum(this.conf.voters.length)) return;
    // a quorum confirmed our leadership after every earlier read was queued too: release them all
    for (const r of this.pendingReads.splice(0, at + 1)) this.answerRead(r.from, r.index, r.context);
  }

  private handleReadIndex(m: Message): void {
    if (!m.context) return;
    if (this.termAt(this.commit) !== this.term) {
      // thesis §6.4: until an entry of this term commits we do not know the latest commit index
      this.readsWaitingForCommit.push(m);
      return;
    }
    if (this.conf.voters.length === 1 && this.isVoter(this.id)) {
      this.answerRead(m.from, this.commit, m.context);
      return;
    }
    if (this.leaseValid()) {
      // no other leader can exist before the lease runs out (see leaseValid)
      this.answerRead(m.from, this.commit, m.context);
      return;
    }
    const wireContext = new Uint8Array([...m.context, ...new TextEncoder().encode(`#${this.readSeq++}`)]);
    this.pendingReads.push({ key: toHex(wireContext), wireContext, index: this.commit, from: m.from, context: m.context, acks: new Set([this.id]) });
    this.bcastHeartbeat(wireContext);
  }

  /**
   * The leader lease (thesis §6.4.1). A follower that accepted a heartbeat refuses every vote for an election timeout
   * of its own ticks (and so does a restarted one, with lease reads on). Count from the tick at which the newest
   * heartbeat a quorum answered was sent: while fewer than `leaseTicks` ticks have passed here, even with clocks
   * off by `maxClockDrift`, no quorum can have elected another leader. Void after a TimeoutNow (the forced election
   * skips those refusals) and before the leader commits in its term.
   */
  private leaseValid(): boolean {
    if (this.readOnly !== 'lease' || this.leaseVoid || this.leaseTicks < 1) return false;
    const stamps = this.conf.voters.map((v) => (v === this.id ? this.ticks : (this.progress.get(v)?.ackedStamp ?? -1))).sort((a, b) => b - a);
    const oldest = stamps[quorum(stamps.length) - 1] ?? -1;
    return oldest >= 0 && this.ticks - oldest < this.leaseTicks;
  }

  private answerRead(to: NodeId, index: number, context: Uint8Array): void {
    if (to === this.id) this.readStates.push({ index, context });
    else this.send(this.msg('readIndexResponse', to, { index, context }));
  }

  private handleTransfer(transferee: NodeId): void {
    if (!this.isVoter(transferee) || transferee === this.id || transferee === this.leadTransferee) return;
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    const pr = this.progress.get(transferee);
    if (pr && pr.match === this.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.leaseVoid = true;
    this.send(this.msg('timeoutNow', to));
  }

  private maybeCommit(): boolean {
    const matches = this.conf.voters.map((v) => this.progress.get(v)?.match ?? 0).sort((a, b) => b - a);
    const q = quorum(matches.length);
    const mci = matches[q - 1] ?? 0;
    // only entries of the current term commit by counting replicas (Raft §5.4.2)
    if (mci > this.commit && this.termAt(mci) === this.term) {
      this.commit = mci;
      if (this.readsWaitingForCommit.length > 0) {
        const waiting = this.readsWaitingForCommit;
        this.readsWaitingForCommit = [];
        for (const r of waiting) this.handleReadIndex(r);
      }
      return true;
    }
    return false;
  }

  private assertLeader(): void {
    if (this.role !== 'leader') {
      throw new EcpsError('NOT_LEADER', `node ${this.id} is not the leader`, { details: { leader: this.leader } });
    }
    if (this.leadTransferee !== NONE) {
      throw new EcpsError('UNAVAILABLE', `leadership is being transferred to ${this.leadTransferee}`, {
        details: { leader: this.leadTransferee },
      });
    }
  }

  private appendProposal(type: Entry['type'], data: Uint8Array): { index: number; term: number } {
    this.assertLeader();
    const e = this.appendEntry(type, data);
    this.needBroadcast = true;
    return { index: e.index, term: e.term };
  }

  /** Appends to the log; the leader's own copy counts once the driver reports it durable ({@link stableTo}). */
  private appendEntry(type: Entry['type'], data: Uint8Array): Entry {
    const e: Entry = { term: this.term, index: this.lastIndex() + 1, type, data };
    this.log.push(e);
    return e;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    for (const [id, p] of this.progress) {
      if (id === this.id) continue;
      this.send(
        this.msg('heartbeat', id, {
          commit: Math.min(p.match, this.commit),
          index: this.ticks,
          ...(context && this.isVoter(id) ? { context } : {}),
        }),
      );
    }
  }

  /** Sends the next append (or the snapshot) to `to`; false when nothing was sent. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.termAt(prevIndex);
    if (prevTerm === undefined) {
      if (!this.snap) return false;
      pr.becomeSnapshot(this.snap.meta.index);
      this.sendSnapshotChunks(to, pr);
      return true;
    }
    // cut by encoded size so that the message fits the network's limit (propose refuses larger entries)
    const ents: Entry[] = [];
    let bytes = MESSAGE_OVERHEAD_BYTES;
    for (let i = pr.next; i <= this.lastIndex(); i++) {
      const e = this.entryAt(i) as Entry;
      const size = entryWireSize(e);
      if (ents.length > 0 && bytes + size > this.maxSizePerMsg) break;
      ents.push(e);
      bytes += size;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(this.msg('append', to, { index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.commit }));
    if (ents.length > 0) pr.sent(prevIndex + ents.length, bytes);
    else if (pr.state === 'probe') pr.probeSent = true;
    return true;
  }

  /** Streams the pending snapshot: chunks that fit one message, at most `maxSnapshotChunksInflight` unacknowledged. */
  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const snap = this.snap;
    if (!snap || snap.meta.index !== pr.pendingSnapshot) return;
    const metaBytes = 64 + [...snap.meta.confState.voters, ...snap.meta.confState.learners].reduce((n, id) => n + id.length + 3, 0);
    const chunk = Math.max(1, this.maxSizePerMsg - MESSAGE_OVERHEAD_BYTES - metaBytes);
    const size = snap.data.length;
    const window = this.maxSnapshotChunksInflight * chunk;
    if (size === 0) {
      this.send(this.msg('snapshot', to, { snapshot: snap, snapshotOffset: 0, snapshotSize: 0 }));
      return;
    }
    while (pr.snapshotSent < size && pr.snapshotSent - pr.snapshotAcked < window) {
      const offset = pr.snapshotSent;
      const end = Math.min(size, offset + chunk);
      this.send(
        this.msg('snapshot', to, {
          snapshot: { meta: snap.meta, data: snap.data.subarray(offset, end) },
          snapshotOffset: offset,
          snapshotSize: size,
        }),
      );
      pr.snapshotSent = end;
    }
  }

  // ------------------------------------------------------------------ membership

  private applyConf(e: Entry): void {
    this.confApplied = e.index;
    const cc = decodeConfChange(e.data);
    this.conf = applyConfChange(this.conf, cc);
    if (this.role !== 'leader') return;
    if (cc.type === 'removeNode') {
      this.progress.delete(cc.nodeId);
      if (cc.nodeId === this.leadTransferee) this.leadTransferee = NONE;
      if (cc.nodeId === this.id) {
        // a removed leader steps down; the rest elect a new one (transfer first to avoid the wait)
        this.becomeFollower(this.term, NONE);
        return;
      }
    } else if (!this.progress.has(cc.nodeId)) {
      this.addProgress(cc.nodeId);
      this.progress.get(cc.nodeId)?.becomeProbe();
    }
    // the quorum changed: entries may now be committed
    if (this.maybeCommit()) this.bcastAppend();
    else this.needBroadcast = true;
  }

  // ------------------------------------------------------------------ messages

  private msg(type: MessageType, to: NodeId, fields: Partial<Message> = {}): Message {
    return {
      type,
      from: this.id,
      to,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      ...fields,
    };
  }

  private send(m: Message): void {
    if (m.to === this.id) this.step(m);
    else this.msgs.push(m);
  }
}
