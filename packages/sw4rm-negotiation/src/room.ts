// SPDX-License-Identifier: Apache-2.0
// NegotiationRoomService (spec §3.11): proposals, critic votes, decisions by the room rules.
import type { Clock, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, systemClock } from '@ecps/core';
import { KvJsonTable, timestampFromMs } from '@ecps/sw4rm';
import type { KvOp, KvStore } from '@ecps/sw4rm';
import { NegotiationDecision as DecisionCodec, NegotiationProposal as ProposalCodec, NegotiationVote as VoteCodec } from '@ecps/sw4rm/proto';
import type {
  GetDecisionRequest,
  GetDecisionResponse,
  GetVotesRequest,
  GetVotesResponse,
  NegotiationDecision,
  NegotiationProposal,
  NegotiationVote,
  SubmitProposalRequest,
  SubmitProposalResponse,
  SubmitVoteRequest,
  SubmitVoteResponse,
  WaitForDecisionRequest,
  WaitForDecisionResponse,
} from '@ecps/sw4rm/proto';
import type { QuorumFailurePolicy, QuorumRule, ScoredVote } from './room-math';
import { ROOM_POLICY_VERSION, abstainVotes, decideOutcome, evaluateQuorum } from './room-math';

/** Options of {@link NegotiationRoom}. */
export interface NegotiationRoomOptions {
  clock?: Clock;
  /** Voting deadline per artifact from proposal time; 0 = none (decide only when all requested critics voted). */
  votingDeadlineMs?: number;
  quorum?: QuorumRule;
  onQuorumFailure?: QuorumFailurePolicy;
  /** Durable store: one record per proposal, vote and decision (namespace `room/…`); memory only when absent. */
  store?: KvStore;
  /** Decided artifacts are forgotten this long after their decision; default 86 400 000 ms (1 day). */
  decidedRetentionMs?: number;
}

interface ArtifactState {
  key: string;
  proposal: NegotiationProposal;
  votes: NegotiationVote[];
  decision?: NegotiationDecision;
  waiters: ((d: NegotiationDecision) => void)[];
  deadline?: TimerHandle;
}

const ESCALATE_RE = /^(escalate|escalate_to_hitl|hitl)$/i;

function timestampToMsSafe(p: NegotiationProposal): number {
  return p.createdAt ? Number(p.createdAt.seconds) * 1000 + Math.floor(p.createdAt.nanos / 1e6) : 0;
}

/** Room state and RPC semantics. */
export class NegotiationRoom {
  private readonly artifacts = new Map<string, ArtifactState>();
  /** Decided artifacts in decision order (forgotten from the front after the retention time). */
  private decided = new Map<ArtifactState, number>();
  private readonly clock: Clock;
  private readonly proposals: KvJsonTable<unknown> | undefined;
  private readonly votes: KvJsonTable<unknown> | undefined;
  private readonly decisions: KvJsonTable<unknown> | undefined;

  constructor(private readonly options: NegotiationRoomOptions = {}) {
    this.clock = options.clock ?? systemClock;
    if (options.store) {
      this.proposals = new KvJsonTable(options.store, 'room/proposal');
      this.votes = new KvJsonTable(options.store, 'room/vote');
      this.decisions = new KvJsonTable(options.store, 'room/decision');
    }
  }

  /** A room with its persisted proposals, votes and decisions restored. @throws EcpsError IO_ERROR, LOG_CORRUPT. */
  static async open(options: NegotiationRoomOptions = {}): Promise<NegotiationRoom> {
    const room = new NegotiationRoom(options);
    if (!room.proposals || !room.votes || !room.decisions) return room;
    const votes = await room.votes.load();
    const decisions = await room.decisions.load();
    for (const [key, saved] of await room.proposals.load()) {
      const proposal = ProposalCodec.fromJSON(saved);
      const state: ArtifactState = { key, proposal, votes: [], waiters: [] };
      for (const [vk, v] of votes) if (vk.startsWith(`${key}\u0000`)) state.votes.push(VoteCodec.fromJSON(v));
      state.votes.sort((a, b) => Number(a.votedAt?.seconds ?? 0) - Number(b.votedAt?.seconds ?? 0) || (a.votedAt?.nanos ?? 0) - (b.votedAt?.nanos ?? 0));
      const decision = decisions.get(key);
      if (decision) {
        state.decision = DecisionCodec.fromJSON(decision);
        room.decided.set(state, Number(state.decision.decidedAt?.seconds ?? 0) * 1000);
      }
      room.artifacts.set(key, state);
      // a voting deadline that passed while we were down is applied now
      const deadline = options.votingDeadlineMs ?? 0;
      if (!state.decision && deadline > 0) {
        const left = timestampToMsSafe(proposal) + deadline - room.clock.now();
        state.deadline = room.clock.setTimeout(() => room.onDeadline(state), Math.max(0, left));
      }
    }
    room.decided = new Map([...room.decided].sort(([, a], [, b]) => a - b));
    return room;
  }

  async submitProposal(req: SubmitProposalRequest): Promise<SubmitProposalResponse> {
    const p = req.proposal;
    if (!p?.artifactId) throw new ValidationError('INVALID_ARGUMENT', 'proposal.artifact_id is required');
    await this.prune();
    const key = this.key(p.negotiationRoomId, p.artifactId);
    if (this.artifacts.has(key)) throw new EcpsError('ALREADY_EXISTS', `artifact ${p.artifactId} already proposed`);
    const state: ArtifactState = { key, proposal: { ...p, createdAt: p.createdAt ?? timestampFromMs(this.clock.now()) }, votes: [], waiters: [] };
    if (this.proposals) await this.options.store!.commit([this.proposals.put(key, ProposalCodec.toJSON(state.proposal))]);
    this.artifacts.set(key, state);
    const deadline = this.options.votingDeadlineMs ?? 0;
    if (deadline > 0) state.deadline = this.clock.setTimeout(() => this.onDeadline(state), deadline);
    return { artifactId: p.artifactId, negotiationRoomId: p.negotiationRoomId };
  }

  async submitVote(req: SubmitVoteRequest): Promise<SubmitVoteResponse> {
    const v = req.vote;
    if (!v?.artifactId || !v.criticId) throw new ValidationError('INVALID_ARGUMENT', 'vote.artifact_id and vote.critic_id are required');
    if (!(v.score >= 0 && v.score <= 10)) throw new ValidationError('INVALID_ARGUMENT', 'score must be in [0,10]');
    if (!(v.confidence >= 0 && v.confidence <= 1)) throw new ValidationError('INVALID_ARGUMENT', 'confidence must be in [0,1]');
    const state = this.state(v.negotiationRoomId, v.artifactId);
    if (state.decision) throw new EcpsError('CONFLICT', `artifact ${v.artifactId} is already decided`);
    if (state.votes.some((x) => x.criticId === v.criticId)) throw new EcpsError('ALREADY_EXISTS', `critic ${v.criticId} already voted`);
    const vote = { ...v, votedAt: v.votedAt ?? timestampFromMs(this.clock.now()) };
    // only this vote (and a decision it completes) is written: never the whole room
    const ops: KvOp[] = this.votes ? [this.votes.put(`${state.key}\u0000${v.criticId}`, VoteCodec.toJSON(vote))] : [];
    state.votes.push(vote);
    const requested = state.proposal.requestedCritics;
    const voters = new Set(state.votes.map((x) => x.criticId));
    const complete = requested.length > 0 && requested.every((c) => voters.has(c));
    const decision = complete ? this.decision(state, false) : undefined;
    if (decision && this.decisions) ops.push(this.decisions.put(state.key, DecisionCodec.toJSON(decision)));
    try {
      if (ops.length) await this.options.store!.commit(ops);
    } catch (err) {
      state.votes.pop();
      throw err;
    }
    if (decision) this.publish(state, decision);
    return { artifactId: v.artifactId, criticId: v.criticId };
  }

  async getVotes(req: GetVotesRequest): Promise<GetVotesResponse> {
    const state = this.state(req.negotiationRoomId, req.artifactId);
    return { votes: [...state.votes], voteCount: state.votes.length };
  }

  /** @throws EcpsError NOT_FOUND before a decision exists. */
  async getDecision(req: GetDecisionRequest): Promise<GetDecisionResponse> {
    const state = this.state(req.negotiationRoomId, req.artifactId);
    if (!state.decision) throw new EcpsError('NOT_FOUND', `no decision yet for ${req.artifactId}`);
    return { decision: state.decision };
  }

  /** Blocks up to `timeout_seconds` (0 → 30 s). @throws EcpsError TIMEOUT (DEADLINE_EXCEEDED) when none comes. */
  async waitForDecision(req: WaitForDecisionRequest): Promise<WaitForDecisionResponse> {
    const state = this.state(req.negotiationRoomId, req.artifactId);
    if (state.decision) return { decision: state.decision };
    const ms = (req.timeoutSeconds || 30) * 1000;
    return new Promise((resolve, reject) => {
      const waiter = (decision: NegotiationDecision) => {
        this.clock.clearTimeout(timer);
        resolve({ decision });
      };
      const timer = this.clock.setTimeout(() => {
        state.waiters = state.waiters.filter((w) => w !== waiter);
        reject(new EcpsError('TIMEOUT', `no decision for ${req.artifactId} within ${ms} ms`));
      }, ms);
      state.waiters.push(waiter);
    });
  }

  /** Clears every deadline timer. */
  close(): void {
    for (const s of this.artifacts.values()) if (s.deadline !== undefined) this.clock.clearTimeout(s.deadline);
  }

  private onDeadline(state: ArtifactState): void {
    state.deadline = undefined;
    if (state.decision) return;
    const decision = this.decision(state, true);
    if (!this.decisions) return this.publish(state, decision);
    this.options.store!.commit([this.decisions.put(state.key, DecisionCodec.toJSON(decision))]).then(
      () => this.publish(state, decision),
      () => {
        // not durable: try again shortly rather than announce a decision a restart would forget
        state.deadline = this.clock.setTimeout(() => this.onDeadline(state), 1000);
      },
    );
  }

  /** Records a durable decision and wakes the waiters. */
  private publish(state: ArtifactState, decision: NegotiationDecision): void {
    if (state.deadline !== undefined) this.clock.clearTimeout(state.deadline);
    state.deadline = undefined;
    state.decision = decision;
    this.decided.set(state, this.clock.now());
    for (const w of state.waiters.splice(0)) w(decision);
  }

  /** Forgets decided artifacts past the retention time (memory and store). */
  private async prune(): Promise<void> {
    const cutoff = this.clock.now() - (this.options.decidedRetentionMs ?? 86_400_000);
    const ops: KvOp[] = [];
    for (const [state, at] of this.decided) {
      if (at > cutoff) break;
      this.decided.delete(state);
      this.artifacts.delete(state.key);
      if (this.proposals && this.votes && this.decisions) {
        ops.push(this.proposals.del(state.key), this.decisions.del(state.key), ...state.votes.map((v) => this.votes!.del(`${state.key}\u0000${v.criticId}`)));
      }
    }
    if (ops.length) await this.options.store!.commit(ops);
  }

  /** The decision the room rules give now (not yet recorded). */
  private decision(state: ArtifactState, atDeadline: boolean): NegotiationDecision {
    const requested = state.proposal.requestedCritics;
    const quorum = evaluateQuorum(requested, state.votes.map((v) => v.criticId), this.options.quorum);
    const policy = this.options.onQuorumFailure ?? 'fail_closed';
    let votes: ScoredVote[] = state.votes.map((v) => ({
      criticId: v.criticId,
      score: v.score,
      confidence: v.confidence,
      passed: v.passed,
      requestsEscalation: v.recommendations.some((r) => ESCALATE_RE.test(r.trim())),
    }));
    if (!quorum.met && policy === 'fail_with_abstain') votes = [...votes, ...abstainVotes(requested, state.votes.map((v) => v.criticId))];
    const timedOut = atDeadline && !quorum.met && policy === 'fail_closed';
    const now = timestampFromMs(this.clock.now());
    const base = { artifactId: state.proposal.artifactId, votes: [...state.votes], policyVersion: ROOM_POLICY_VERSION, negotiationRoomId: state.proposal.negotiationRoomId, decidedAt: now };
    let decision: NegotiationDecision;
    if (votes.length === 0) {
      decision = { ...base, outcome: 3, aggregatedScore: undefined, reason: 'no votes before the deadline' };
    } else {
      const d = decideOutcome(votes, { quorumTimedOut: timedOut });
      decision = { ...base, outcome: d.outcome, aggregatedScore: d.aggregated, reason: d.reason };
    }
    return decision;
  }

  private state(roomId: string, artifactId: string): ArtifactState {
    const s = this.artifacts.get(this.key(roomId, artifactId));
    if (!s) throw new EcpsError('NOT_FOUND', `artifact ${artifactId} not found`);
    return s;
  }

  private key(roomId: string, artifactId: string): string {
    return `${roomId}\u0000${artifactId}`;
  }
}
