// SPDX-License-Identifier: Apache-2.0
// NegotiationRoomService (spec §3.11): proposals, critic votes, decisions by the room rules.
import type { Clock, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, systemClock } from '@ecps/core';
import { readFileIfExists, timestampFromMs, writeFileAtomic } from '@ecps/sw4rm';
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
  /** JSON file holding proposals, votes and decisions (atomic write on every change); none = memory only. */
  persistPath?: string;
}

interface ArtifactState {
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
  private readonly clock: Clock;

  constructor(private readonly options: NegotiationRoomOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const text = options.persistPath ? readFileIfExists(options.persistPath) : undefined;
    for (const saved of text ? (JSON.parse(text) as { proposal: unknown; votes: unknown[]; decision?: unknown }[]) : []) {
      const proposal = ProposalCodec.fromJSON(saved.proposal);
      const state: ArtifactState = { proposal, votes: saved.votes.map((v) => VoteCodec.fromJSON(v)), waiters: [] };
      if (saved.decision) state.decision = DecisionCodec.fromJSON(saved.decision);
      this.artifacts.set(this.key(proposal.negotiationRoomId, proposal.artifactId), state);
      // a voting deadline that passed while we were down is applied now
      const deadline = options.votingDeadlineMs ?? 0;
      if (!state.decision && deadline > 0) {
        const left = timestampToMsSafe(proposal) + deadline - this.clock.now();
        state.deadline = this.clock.setTimeout(() => this.onDeadline(state), Math.max(0, left));
      }
    }
  }

  async submitProposal(req: SubmitProposalRequest): Promise<SubmitProposalResponse> {
    const p = req.proposal;
    if (!p?.artifactId) throw new ValidationError('INVALID_ARGUMENT', 'proposal.artifact_id is required');
    const key = this.key(p.negotiationRoomId, p.artifactId);
    if (this.artifacts.has(key)) throw new EcpsError('ALREADY_EXISTS', `artifact ${p.artifactId} already proposed`);
    const state: ArtifactState = { proposal: { ...p, createdAt: p.createdAt ?? timestampFromMs(this.clock.now()) }, votes: [], waiters: [] };
    this.artifacts.set(key, state);
    const deadline = this.options.votingDeadlineMs ?? 0;
    if (deadline > 0) state.deadline = this.clock.setTimeout(() => this.onDeadline(state), deadline);
    this.persist();
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
    state.votes.push({ ...v, votedAt: v.votedAt ?? timestampFromMs(this.clock.now()) });
    const requested = state.proposal.requestedCritics;
    const voters = new Set(state.votes.map((x) => x.criticId));
    if (requested.length > 0 && requested.every((c) => voters.has(c))) this.decide(state, false);
    this.persist();
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
    this.decide(state, true);
  }

  private decide(state: ArtifactState, atDeadline: boolean): void {
    if (state.deadline !== undefined) this.clock.clearTimeout(state.deadline);
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
    state.decision = decision;
    this.persist();
    for (const w of state.waiters.splice(0)) w(decision);
  }

  private persist(): void {
    if (!this.options.persistPath) return;
    const data = [...this.artifacts.values()].map((s) => ({
      proposal: ProposalCodec.toJSON(s.proposal),
      votes: s.votes.map((v) => VoteCodec.toJSON(v)),
      ...(s.decision ? { decision: DecisionCodec.toJSON(s.decision) } : {}),
    }));
    writeFileAtomic(this.options.persistPath, JSON.stringify(data));
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
