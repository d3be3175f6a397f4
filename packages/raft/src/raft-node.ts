// SPDX-License-Identifier: Apache-2.0
// The driver that runs a RaftCore for real: a ticker, durable storage, a network, a state machine, and promises
// for proposals and linearizable reads.
import { EcpsError, cryptoRandom, silentLogger, systemClock, toHex } from '@ecps/core';
import type { Clock, Logger, RandomSource, TimerHandle } from '@ecps/core';
import { RaftCore } from './raft-core';
import type { StateMachine } from './state-machine';
import type { RaftStorage } from './storage';
import { sendableBeforePersist } from './types';
import type { ConfChange, ConfState, Message, NodeId, Ready, Role, Snapshot } from './types';

/**
 * How Raft messages travel. Delivery may lose, duplicate or reorder messages: Raft copes. An implementation
 * delivers only messages whose `from` is the (authenticated, where the network can tell) sender.
 */
export interface RaftNetwork {
  /** Starts delivering messages addressed to this node. */
  start(onMessage: (message: Message) => void): Promise<void>;
  /**
   * Sends without waiting. A message that cannot be sent is dropped (Raft retries by itself); the network reports
   * it as a warning and a metric.
   */
  send(messages: readonly Message[]): void;
  /** Largest encoded message the network carries: the node cuts appends and snapshot chunks to fit. */
  readonly maxMessageBytes?: number;
  close(): Promise<void>;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  /** Initial configuration; ignored when the storage holds a snapshot (which carries its own). */
  readonly peers: ConfState;
  readonly storage: RaftStorage;
  readonly stateMachine: StateMachine;
  readonly network: RaftNetwork;
  /** Milliseconds per tick. Default 100 (an election timeout of 1-2 s with the default electionTick 10). */
  readonly tickMs?: number;
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly readOnly?: 'safe' | 'lease';
  /** Take a state machine snapshot and compact the log every this many applied entries. Default 10 000. */
  readonly snapshotEvery?: number;
  /** Largest encoded message; also capped by the network's `maxMessageBytes`. Default 1 MiB. */
  readonly maxSizePerMsg?: number;
  readonly maxInflight?: number;
  /** Entry bytes in flight per follower. Default 8 MiB. */
  readonly maxInflightBytes?: number;
  /** Largest snapshot accepted from a leader. Default 1 GiB. */
  readonly maxSnapshotBytes?: number;
  /** Clock rate bound for lease reads (see RaftCoreOptions). Default 0.05. */
  readonly maxClockDrift?: number;
  /** Ticks follow `clock.monotonic()`: a node that was paused runs the ticks it missed before anything else. */
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly logger?: Logger;
  /** Runs `fn` soon, after the current event (default `setImmediate`); a simulator passes its scheduler. */
  readonly defer?: (fn: () => void) => void;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId;
  readonly commit: number;
  /** The last index the state machine has applied (a received snapshot counts once it is restored). */
  readonly applied: number;
  readonly confState: ConfState;
}

interface PendingProposal {
  readonly term: number;
  resolve(reply: Uint8Array): void;
  reject(error: unknown): void;
  timer: TimerHandle;
}

interface PendingRead {
  index: number;
  resolve(index: number): void;
  reject(error: unknown): void;
  timer: TimerHandle;
}

/**
 * One Raft member. Persists each Ready before sending its messages (so a vote or an acknowledgement is never
 * forgotten by a crash), applies committed entries in order, and resolves the callers' promises.
 */
export class RaftNode {
  private readonly core: RaftCore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  /** Reads whose index is known, waiting for the state machine to apply it. */
  private readonly confirmedReads: PendingRead[] = [];
  private readonly leaderListeners = new Set<(leader: NodeId, term: number) => void>();
  private ticker: TimerHandle | undefined;
  private scheduled = false;
  private closed = false;
  private failure: unknown;
  private readSeq = 0;
  private readonly tickMs: number;
  /** Monotonic time of the last tick run. */
  private tickedAt: number;
  private compacting = false;
  /**
   * What the state machine holds. The core's applied index runs ahead of it between a received snapshot and the
   * Ready that hands the snapshot over, so status reports this one.
   */
  private applied: number;
  private readonly defer: (fn: () => void) => void;

  private constructor(private readonly options: RaftNodeOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.defer = options.defer ?? setImmediate;
    this.tickMs = options.tickMs ?? 100;
    this.tickedAt = this.clock.monotonic();
    const persisted = options.storage.load();
    const maxSizePerMsg = Math.min(options.maxSizePerMsg ?? 1024 * 1024, options.network.maxMessageBytes ?? Infinity);
    this.core = new RaftCore({
      id: options.id,
      random: options.random ?? cryptoRandom,
      ...persisted,
      peers: options.peers,
      ...(options.electionTick !== undefined ? { electionTick: options.electionTick } : {}),
      ...(options.heartbeatTick !== undefined ? { heartbeatTick: options.heartbeatTick } : {}),
      ...(options.preVote !== undefined ? { preVote: options.preVote } : {}),
      ...(options.checkQuorum !== undefined ? { checkQuorum: options.checkQuorum } : {}),
      ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}),
      maxSizePerMsg,
      ...(options.maxInflight !== undefined ? { maxInflight: options.maxInflight } : {}),
      ...(options.maxInflightBytes !== undefined ? { maxInflightBytes: options.maxInflightBytes } : {}),
      ...(options.maxSnapshotBytes !== undefined ? { maxSnapshotBytes: options.maxSnapshotBytes } : {}),
      ...(options.maxClockDrift !== undefined ? { maxClockDrift: options.maxClockDrift } : {}),
    });
    if (persisted.snapshot) options.stateMachine.restore(persisted.snapshot.data);
    this.applied = this.core.appliedIndex;
  }

  /**
   * Loads the persisted state, restores the state machine, and starts ticking and receiving.
   * @throws EcpsError `LOG_CORRUPT` / `CONFIG_INVALID` when the stored state is unusable.
   */
  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    const node = new RaftNode(options);
    await options.network.start((m) => node.receive(m));
    node.scheduleTick();
    node.schedule();
    return node;
  }

  get id(): NodeId {
    return this.options.id;
  }

  status(): RaftStatus {
    return {
      id: this.options.id,
      role: this.core.currentRole,
      term: this.core.currentTerm,
      leader: this.core.currentLeader,
      commit: this.core.commitIndex,
      applied: this.applied,
      confState: this.core.confState,
    };
  }

  isLeader(): boolean {
    return this.core.currentRole === 'leader';
  }

  /** Called with the new leader ('' when unknown) whenever this node's view of the leader changes. */
  onLeaderChange(listener: (leader: NodeId, term: number) => void): () => void {
    this.leaderListeners.add(listener);
    return () => this.leaderListeners.delete(listener);
  }

  /**
   * Replicates `command` and resolves with the state machine's reply once it is applied here.
   * @throws EcpsError `NOT_LEADER` (details.leader), `UNAVAILABLE` (transfer in progress), `MESSAGE_TOO_LARGE` (the
   *   command cannot fit one message: see {@link maxCommandBytes}), `TIMEOUT` (the outcome is unknown: the command
   *   may still commit, so retry idempotently), `CLOSED`.
   */
  propose(command: Uint8Array, timeoutMs = 5_000): Promise<Uint8Array> {
    this.assertOpen();
    this.catchUpTicks();
    const { index, term } = this.core.propose(command);
    return this.track(index, term, timeoutMs);
  }

  /**
   * Proposes a membership change; resolves once it is applied here.
   * @throws EcpsError as {@link RaftCore.proposeConfChange}, plus `TIMEOUT` and `CLOSED`.
   */
  async changeMembership(cc: ConfChange, timeoutMs = 5_000): Promise<ConfState> {
    this.assertOpen();
    const { index, term } = this.core.proposeConfChange(cc);
    await this.track(index, term, timeoutMs);
    return this.core.confState;
  }

  /** The largest command {@link propose} accepts (the network's message limit less the framing). */
  get maxCommandBytes(): number {
    return this.core.maxEntryBytes;
  }

  /**
   * Resolves with a read index once this replica has applied it: a read of the local state machine after that is
   * linearizable. Works on followers too (the leader is asked).
   * @throws EcpsError `TIMEOUT` (no leader, or no quorum), `CLOSED`.
   */
  readIndex(timeoutMs = 5_000): Promise<number> {
    this.assertOpen();
    this.catchUpTicks();
    const context = new TextEncoder().encode(`${this.options.id}:${this.readSeq++}`);
    const key = toHex(context);
    return new Promise<number>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.reads.delete(key);
        const at = this.confirmedReads.findIndex((r) => r.timer === timer);
        if (at >= 0) this.confirmedReads.splice(at, 1);
        reject(new EcpsError('TIMEOUT', `read index not confirmed within ${timeoutMs} ms`, { details: { leader: this.core.currentLeader } }));
      }, timeoutMs);
      this.reads.set(key, { index: 0, resolve, reject, timer });
      this.core.readIndex(context);
      this.schedule();
    });
  }

  /** Asks the leader to hand over to `to` (best effort; watch {@link onLeaderChange}). */
  transferLeadership(to: NodeId): void {
    this.assertOpen();
    this.core.transferLeadership(to);
    this.schedule();
  }

  /** Stops ticking and receiving; pending calls fail with `CLOSED`. The storage is closed too. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker !== undefined) this.clock.clearTimeout(this.ticker);
    this.failAll(new EcpsError('CLOSED', `raft node ${this.options.id} closed`));
    await this.options.network.close();
    await this.options.storage.close();
  }

  private track(index: number, term: number, timeoutMs: number): Promise<Uint8Array> {
    this.schedule();
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.proposals.delete(index);
        reject(new EcpsError('TIMEOUT', `entry ${index} not applied within ${timeoutMs} ms (it may still commit)`));
      }, timeoutMs);
      this.proposals.set(index, { term, resolve, reject, timer });
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new EcpsError('CLOSED', `raft node ${this.options.id} closed`);
    if (this.failure !== undefined) throw new EcpsError('IO_ERROR', 'raft node stopped after a storage failure', { cause: this.failure });
  }

  private receive(m: Message): void {
    if (this.closed || this.failure !== undefined) return;
    this.catchUpTicks();
    this.core.step(m);
    this.schedule();
  }

  /**
   * Runs the ticks due by the monotonic clock. Timers fire late under load and not at all while a process is
   * paused; counting by the clock keeps election timeouts and the leader lease honest (a leader that was paused
   * for an election timeout steps down before it answers anything).
   */
  private catchUpTicks(): void {
    const due = Math.floor((this.clock.monotonic() - this.tickedAt) / this.tickMs);
    if (due <= 0) return;
    this.tickedAt += due * this.tickMs;
    // beyond a few election timeouts more ticks change nothing
    const run = Math.min(due, 4 * (this.options.electionTick ?? 10) + 1);
    for (let i = 0; i < run; i++) this.core.tick();
    this.schedule();
  }

  private scheduleTick(): void {
    const loop = () => {
      if (this.closed || this.failure !== undefined) return;
      this.catchUpTicks();
      this.ticker = this.clock.setTimeout(loop, Math.max(1, this.tickedAt + this.tickMs - this.clock.monotonic()));
    };
    this.ticker = this.clock.setTimeout(loop, this.tickMs);
  }

  /** Coalesces everything that happens in one event-loop turn into one Ready (one write, one group commit). */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      try {
        while (!this.closed && this.failure === undefined && this.core.hasReady()) this.handle(this.core.ready());
      } catch (error) {
        this.stop(error);
      }
    });
  }

  /** The durable state is unknown now: stop rather than risk acknowledging what is not stored. */
  private stop(error: unknown): void {
    if (this.failure !== undefined || this.closed) return;
    this.failure = error;
    const cause = (error as { cause?: unknown }).cause;
    this.logger.error('raft node stopped', { id: this.options.id, error: String(error), ...(cause !== undefined ? { cause: String(cause) } : {}) });
    this.failAll(new EcpsError('IO_ERROR', 'raft node stopped after a storage failure', { cause: error }));
  }

  /**
   * One Ready: write it (durable later), send what may leave now (the leader's appends go out in parallel with its
   * own write, thesis §10.2.1), apply what is committed, and once the write is durable send the rest (votes,
   * acknowledgements) and tell the core.
   */
  private handle(rd: Ready): void {
    const { storage, stateMachine, network } = this.options;
    const durable = storage.save(rd, rd.mustSync);
    const now = rd.mustSync ? rd.messages.filter(sendableBeforePersist) : rd.messages;
    const later = rd.mustSync ? rd.messages.filter((m) => !sendableBeforePersist(m)) : [];
    if (now.length > 0) network.send(now);
    const last = rd.entries.at(-1);
    const snapshotMeta = rd.snapshot?.meta;
    if (rd.mustSync) {
      durable.then(
        () => {
          if (this.closed || this.failure !== undefined) return;
          if (later.length > 0) network.send(later);
          if (snapshotMeta) this.core.stableTo(snapshotMeta.index, snapshotMeta.term);
          if (last) this.core.stableTo(last.index, last.term);
          this.schedule();
        },
        (error: unknown) => this.stop(error),
      );
    } else {
      durable.catch((error: unknown) => this.stop(error));
    }
    if (rd.snapshot) stateMachine.restore(rd.snapshot.data);
    for (const e of rd.committedEntries) {
      const reply = e.type === 'normal' && e.data.length > 0 ? stateMachine.apply(e.data, e.index) : new Uint8Array(0);
      const p = this.proposals.get(e.index);
      if (!p) continue;
      this.proposals.delete(e.index);
      this.clock.clearTimeout(p.timer);
      if (p.term === e.term) p.resolve(reply);
      else p.reject(new EcpsError('NOT_LEADER', `entry ${e.index} was replaced by a newer leader`, { details: { leader: this.core.currentLeader } }));
    }
    // proposals made as a former leader resolve if the new leader keeps them, else fail or time out
    if (rd.softState) for (const l of this.leaderListeners) l(rd.softState.leader, this.core.currentTerm);
    for (const rs of rd.readStates) {
      const key = toHex(rs.context);
      const r = this.reads.get(key);
      if (!r) continue;
      this.reads.delete(key);
      r.index = rs.index;
      this.confirmedReads.push(r);
    }
    const applied = this.core.appliedIndex;
    this.applied = applied;
    for (let i = 0; i < this.confirmedReads.length; ) {
      const r = this.confirmedReads[i] as PendingRead;
      if (r.index <= applied) {
        this.confirmedReads.splice(i, 1);
        this.clock.clearTimeout(r.timer);
        r.resolve(r.index);
      } else i++;
    }
    this.maybeSnapshot();
  }

  private maybeSnapshot(): void {
    const every = this.options.snapshotEvery ?? 10_000;
    const applied = this.core.appliedIndex;
    if (this.compacting || applied - this.core.firstIndex() < every) return;
    const term = this.core.termAt(applied);
    if (term === undefined) return;
    const snap: Snapshot = { meta: { index: applied, term, confState: this.core.confState }, data: this.options.stateMachine.snapshot() };
    this.core.compact(snap);
    this.compacting = true;
    this.options.storage.compact(snap).then(
      () => {
        this.compacting = false;
      },
      (error: unknown) => this.stop(error),
    );
  }

  private failAll(error: EcpsError): void {
    for (const p of this.proposals.values()) {
      this.clock.clearTimeout(p.timer);
      p.reject(error);
    }
    this.proposals.clear();
    for (const r of [...this.reads.values(), ...this.confirmedReads]) {
      this.clock.clearTimeout(r.timer);
      r.reject(error);
    }
    this.reads.clear();
    this.confirmedReads.length = 0;
  }
}
