// SPDX-License-Identifier: Apache-2.0
// The deterministic, score-based election (spec §3.2). Rounds only grow; a candidacy window collects the round's
// candidates and the top of the ranking wins; a leader heartbeats every 2 s and followers start an emergency
// election after 6 s of silence. There is no preemption: a better node arriving later follows the sitting leader.
import type { Clock, TimerHandle } from '@ecps/core';
import { rankCandidates, outranks } from './scores';
import type { CandidateScore } from './scores';
import type { CellPayload } from './bus';

export const HEARTBEAT_MS = 2_000;
/** A leader has failed after 3 missed heartbeats. */
export const LEADER_TIMEOUT_MS = 3 * HEARTBEAT_MS;
export const ELECTION_WINDOW_MS = { normal: 5_000, emergency: 2_000 } as const;

export type ElectionMode = keyof typeof ELECTION_WINDOW_MS;
export type ElectionRole = 'Idle' | 'Candidate' | 'Leader' | 'Follower';

/** The cell's leader as the election decided it (what the leader writes to `cells:<id>.leader`). */
export interface LeaderRecord {
  readonly node_id: string;
  readonly round: number;
  readonly score_q: number;
  readonly autonomous: boolean;
}

export interface ElectionOptions {
  readonly nodeId: string;
  readonly clock: Clock;
  /** This node's current standing (re-read at every candidacy). */
  readonly self: () => CandidateScore;
  /** Sends a payload to every cell member. */
  readonly broadcast: (payload: CellPayload) => void;
  /** Called when this node becomes leader (with the runner-up) or starts following someone, and when the leader is lost (null). */
  readonly onLeader?: (leader: LeaderRecord | null, deputy: string | null) => void;
}

type ElectionPayload = Extract<CellPayload, { type: 'Candidacy' | 'LeaderAnnounce' | 'Heartbeat' }>;

/** One node's election state machine. Drive it with `handle` and the clock; stop it with `close`. */
export class Election {
  private _role: ElectionRole = 'Idle';
  private _round = 0;
  private highestSeen = 0;
  private _leader: LeaderRecord | null = null;
  private _deputy: string | null = null;
  private candidacies = new Map<string, CandidateScore>();
  private lastHeard = 0;
  private window: TimerHandle | undefined;
  private ticker: TimerHandle | undefined;
  private closed = false;
  readonly stats = { staleDropped: 0, elections: 0 };

  constructor(private readonly options: ElectionOptions) {}

  get role(): ElectionRole {
    return this._role;
  }
  get round(): number {
    return this._round;
  }
  get leader(): LeaderRecord | null {
    return this._leader;
  }
  get deputy(): string | null {
    return this._deputy;
  }

  /** `round := max(round, highest seen) + 1`; become Candidate, send our Candidacy, open the window. */
  startElection(mode: ElectionMode = 'normal'): void {
    if (this.closed) return;
    this.stats.elections++;
    this._round = Math.max(this._round, this.highestSeen) + 1;
    this.highestSeen = this._round;
    this.becomeCandidate(mode);
  }

  /** Handles an election payload from a cell member (other payloads are ignored). */
  handle(payload: CellPayload): void {
    if (this.closed) return;
    if (payload.type !== 'Candidacy' && payload.type !== 'LeaderAnnounce' && payload.type !== 'Heartbeat') return;
    const round = payload.election_round;
    this.highestSeen = Math.max(this.highestSeen, round);
    if (round < this._round) {
      this.stats.staleDropped++;
      this.answerStale();
      return;
    }
    switch (payload.type) {
      case 'Candidacy':
        return this.onCandidacy(payload, round);
      case 'LeaderAnnounce':
        return this.onAnnounce(payload.leader_id, round, payload.score_q);
      case 'Heartbeat':
        return this.onHeartbeat(payload, round);
    }
  }

  /** Stops the timers; later calls do nothing. */
  close(): void {
    this.closed = true;
    this.clear();
  }

  private onCandidacy(c: Extract<ElectionPayload, { type: 'Candidacy' }>, round: number): void {
    const score: CandidateScore = { node_id: c.candidate_id, score_q: c.score_q, technical_q: c.technical_q, eligible: c.eligible };
    if (round > this._round) {
      this._round = round;
      this.becomeCandidate(this._role === 'Idle' || this._leader === null ? 'normal' : 'emergency');
      this.candidacies.set(score.node_id, score);
      return;
    }
    if (this._role === 'Candidate') this.candidacies.set(score.node_id, score);
    else this.answerStale(); // a late candidate in a decided round learns who leads
  }

  private onAnnounce(leaderId: string, round: number, scoreQ: number): void {
    if (round > this._round || this._role !== 'Leader') {
      this._round = round;
      this.follow({ node_id: leaderId, round, score_q: scoreQ, autonomous: false });
      return;
    }
    if (leaderId === this.options.nodeId) return;
    // two leaders in one round (message loss): the lower-ranked steps down
    const me = this.options.self();
    if (outranks({ node_id: leaderId, score_q: scoreQ, technical_q: 0, eligible: true }, { ...me, eligible: true })) {
      this.follow({ node_id: leaderId, round, score_q: scoreQ, autonomous: false });
    } else {
      this.announce();
    }
  }

  private onHeartbeat(h: Extract<ElectionPayload, { type: 'Heartbeat' }>, round: number): void {
    if (h.platform_id === this.options.nodeId) return;
    if (this._leader?.node_id === h.platform_id && round === this._leader.round) {
      this.lastHeard = this.options.clock.now();
      return;
    }
    // another leader in our round (lost messages): announce, so the two compare scores and one steps down
    if (this._role === 'Leader' && round === this._round) {
      this.announce();
      return;
    }
    // a heartbeat of a newer round: someone leads there
    if (round > this._round || (this._role !== 'Leader' && this._role !== 'Candidate')) {
      this._round = round;
      this.follow({ node_id: h.platform_id, round, score_q: 0, autonomous: false });
    }
  }

  private becomeCandidate(mode: ElectionMode): void {
    this.clear();
    this._role = 'Candidate';
    this.candidacies = new Map();
    const me = this.options.self();
    this.candidacies.set(me.node_id, me);
    this.options.broadcast({ type: 'Candidacy', candidate_id: me.node_id, election_round: this._round, score_q: me.score_q, technical_q: me.technical_q, eligible: me.eligible });
    this.window = this.options.clock.setTimeout(() => this.decide(), ELECTION_WINDOW_MS[mode]);
  }

  private decide(): void {
    this.window = undefined;
    const { ranking, autonomous } = rankCandidates([...this.candidacies.values()]);
    const winner = ranking[0]!;
    if (winner.node_id === this.options.nodeId) {
      this._role = 'Leader';
      this._leader = { node_id: winner.node_id, round: this._round, score_q: winner.score_q, autonomous };
      this._deputy = ranking[1]?.node_id ?? null;
      this.announce();
      this.ticker = this.options.clock.setTimeout(() => this.beat(), HEARTBEAT_MS);
      this.options.onLeader?.(this._leader, this._deputy);
    } else {
      // follow the winner and wait up to 6 s for its announce or heartbeat
      this.follow({ node_id: winner.node_id, round: this._round, score_q: winner.score_q, autonomous });
    }
  }

  private follow(leader: LeaderRecord): void {
    const changed = this._leader?.node_id !== leader.node_id || this._leader.round !== leader.round || this._role !== 'Follower';
    this.clear();
    this._role = 'Follower';
    this._leader = leader;
    this._deputy = null;
    this.lastHeard = this.options.clock.now();
    this.ticker = this.options.clock.setTimeout(() => this.watch(), HEARTBEAT_MS);
    if (changed) this.options.onLeader?.(leader, null);
  }

  private announce(): void {
    const l = this._leader!;
    this.options.broadcast({ type: 'LeaderAnnounce', leader_id: l.node_id, election_round: l.round, score_q: l.score_q });
  }

  private answerStale(): void {
    if (this._role === 'Leader') this.announce();
    else if (this._role === 'Follower' && this._leader && this.options.clock.now() - this.lastHeard <= LEADER_TIMEOUT_MS) {
      const l = this._leader;
      this.options.broadcast({ type: 'LeaderAnnounce', leader_id: l.node_id, election_round: l.round, score_q: l.score_q });
    }
  }

  private beat(): void {
    if (this._role !== 'Leader') return;
    this.options.broadcast({ type: 'Heartbeat', platform_id: this.options.nodeId, election_round: this._round });
    this.ticker = this.options.clock.setTimeout(() => this.beat(), HEARTBEAT_MS);
  }

  private watch(): void {
    if (this._role !== 'Follower') return;
    if (this.options.clock.now() - this.lastHeard >= LEADER_TIMEOUT_MS) {
      this._leader = null;
      this.options.onLeader?.(null, null);
      this.startElection('emergency');
      return;
    }
    this.ticker = this.options.clock.setTimeout(() => this.watch(), HEARTBEAT_MS);
  }

  private clear(): void {
    if (this.window) this.options.clock.clearTimeout(this.window);
    if (this.ticker) this.options.clock.clearTimeout(this.ticker);
    this.window = undefined;
    this.ticker = undefined;
  }
}
