// SPDX-License-Identifier: Apache-2.0
// Replication of a MEP store across nodes over any Transport (spec §7.3): strong writes wait for a quorum and are
// rolled back on timeout, eventual writes propagate asynchronously, and anti-entropy repairs what was missed.
//   mep/replicate/{peer}   MepReplicate, MepRollback, and MepSnapshot (anti-entropy answers)
//   mep/ack/{node}         MepReplicateAck
//   mep/antientropy/{peer} MepDigest
import {
  correlationOf,
  isEcpsError,
  nodeIdFromSource,
  nodeSource,
  uuidv4,
  type Clock,
  type EcpsEvent,
  type Logger,
  type RandomSource,
  type Subscription,
  type TimerHandle,
  type Transport,
} from '@ecps/core';
import type { Ack } from '@ecps/proto';
import {
  MepDigest,
  MepEntry,
  MepReplicate,
  MepReplicateAck,
  MepRollback,
  MepSnapshot,
} from '@ecps/proto/ext/v1';
import { decodeMessageEvent, encodeMessageEvent, type MessageFns } from '@ecps/serialization';
import { fromMepEntry, toMepEntry } from './entry-codec';
import type { LocalMemory, StoredEntry } from './local-memory';

/** CloudEvents types of the replication messages. */
export const MEP_EVENT_TYPES = {
  replicate: 'ecps.ext.mep.replicate',
  rollback: 'ecps.ext.mep.rollback',
  ack: 'ecps.ext.mep.ack',
  digest: 'ecps.ext.mep.digest',
  snapshot: 'ecps.ext.mep.snapshot',
} as const;

/** Topics of spec §7.3. */
export const mepTopics = {
  replicate: (peer: string) => `mep/replicate/${peer}`,
  ack: (node: string) => `mep/ack/${node}`,
  antiEntropy: (peer: string) => `mep/antientropy/${peer}`,
};

export type ConsistencyMode = 'eventual' | 'strong';

export interface ReplicationOptions {
  /** Carries the replication traffic; the store never needs a particular transport. */
  transport: Transport;
  /** Node ids of the other replicas. Every write goes to all of them. */
  peers: readonly string[];
  /** Default `eventual`. */
  mode?: ConsistencyMode;
  /** R; the strong quorum is floor(R/2)+1 including this node. Default 3. */
  replicationFactor?: number;
  /** Strong writes are rolled back when the quorum has not acknowledged within this time. Default 5000. */
  quorumTimeoutMs?: number;
  /** Period of anti-entropy rounds; 0 disables the timer (rounds can still be run by hand). Default 30000. */
  antiEntropyIntervalMs?: number;
}

interface Deps {
  clock: Clock;
  random: RandomSource;
  logger: Logger;
}

interface PendingWrite {
  readonly entry: StoredEntry;
  /** The version the write replaced, restored if the write is rolled back. */
  readonly previous: StoredEntry | undefined;
  readonly acks: Set<string>;
  readonly needed: number;
  readonly finish: (ack: Ack) => void;
  readonly timer: TimerHandle;
}

/** Ack message of a strong write that missed its quorum (spec §7.3). */
export const QUORUM_NOT_REACHED = 'quorum not reached';

export class Replicator {
  readonly mode: ConsistencyMode;
  readonly replicationFactor: number;
  readonly quorum: number;
  private readonly transport: Transport;
  private readonly peers: readonly string[];
  private readonly quorumTimeoutMs: number;
  private readonly antiEntropyIntervalMs: number;
  private readonly pending = new Map<string, PendingWrite>();
  private readonly answers = new Map<string, number>();
  private readonly subscriptions: Subscription[] = [];
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly memory: LocalMemory,
    options: ReplicationOptions,
    private readonly deps: Deps,
  ) {
    this.transport = options.transport;
    this.peers = [...new Set(options.peers)].filter((p) => p !== memory.nodeId);
    this.mode = options.mode ?? 'eventual';
    this.replicationFactor = options.replicationFactor ?? 3;
    this.quorum = Math.floor(this.replicationFactor / 2) + 1;
    this.quorumTimeoutMs = options.quorumTimeoutMs ?? 5000;
    this.antiEntropyIntervalMs = options.antiEntropyIntervalMs ?? 30_000;
  }

  /** False when a strong write could never reach its quorum with the configured peers. */
  get canReachQuorum(): boolean {
    return this.mode === 'eventual' || this.peers.length + 1 >= this.quorum;
  }

  private get self(): string {
    return this.memory.nodeId;
  }

  async start(): Promise<void> {
    const t = this.transport;
    this.subscriptions.push(
      await t.subscribe(mepTopics.replicate(this.self), (e) => this.guard(e, () => this.onReplicateTopic(e))),
      await t.subscribe(mepTopics.ack(this.self), (e) => this.guard(e, () => this.onAck(e))),
      await t.subscribe(mepTopics.antiEntropy(this.self), (e) => this.guard(e, () => this.onDigest(e))),
    );
    this.schedule();
  }

  /** Propagates a local write. Strong: resolves once a quorum applied it, or rolls it back. Eventual: at once. */
  async replicate(entry: StoredEntry, previous: StoredEntry | undefined): Promise<Ack> {
    const operationId = uuidv4(this.deps.random);
    if (this.mode === 'eventual') {
      this.broadcastInBackground(operationId, entry);
      return { success: true, message: '' };
    }
    const needed = this.quorum - 1;
    if (needed <= 0) {
      this.broadcastInBackground(operationId, entry);
      return { success: true, message: '' };
    }
    const result = new Promise<Ack>((resolve) => {
      const timer = this.deps.clock.setTimeout(() => void this.rollback(operationId), this.quorumTimeoutMs);
      this.pending.set(operationId, { entry, previous, acks: new Set(), needed, finish: resolve, timer });
    });
    await this.broadcast(operationId, [entry], true);
    return result;
  }

  /** One anti-entropy round: sends this node's digest to every peer; they answer with what it lacks. */
  async antiEntropy(): Promise<void> {
    const digest: MepDigest = { nodeId: this.self, summary: this.memory.context.summary() };
    await Promise.all(this.peers.map((peer) => this.send(mepTopics.antiEntropy(peer), MEP_EVENT_TYPES.digest, MepDigest, digest)));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    for (const [id, p] of this.pending) {
      this.deps.clock.clearTimeout(p.timer);
      p.finish({ success: false, message: 'store closed' });
      this.pending.delete(id);
    }
    await Promise.all(this.subscriptions.splice(0).map((s) => s.unsubscribe().catch(() => undefined)));
  }

  private schedule(): void {
    if (this.antiEntropyIntervalMs <= 0 || this.closed) return;
    this.timer = this.deps.clock.setTimeout(() => {
      void this.antiEntropy()
        .catch((error: unknown) => this.deps.logger.warn('mep anti-entropy round failed', { error: String(error) }))
        .finally(() => this.schedule());
    }, this.antiEntropyIntervalMs);
  }

  /**
   * Rolls back a strong write whose quorum did not answer in time: locally at once, and on the peers by an undo
   * version (a new write that supersedes it, so a lost or overtaken rollback is repaired by anti-entropy like any
   * other write) plus `MepRollback` naming its dot. Failures to reach peers are logged; the Put fails either way.
   */
  private async rollback(operationId: string): Promise<void> {
    const p = this.pending.get(operationId);
    if (!p) return;
    this.pending.delete(operationId);
    const { entry } = p;
    try {
      const undo = this.memory.undo(entry, p.previous);
      if (undo) await this.broadcast(uuidv4(this.deps.random), [undo], false);
      const message: MepRollback = { operationId, sourceNode: this.self, dots: [{ nodeId: entry.dot.nodeId, counter: entry.dot.counter }] };
      await Promise.all(this.peers.map((peer) => this.send(mepTopics.replicate(peer), MEP_EVENT_TYPES.rollback, MepRollback, message)));
    } catch (error) {
      this.deps.logger.warn('mep: rollback did not reach every peer (anti-entropy will repair it)', { key: entry.key, error: String(error) });
    } finally {
      p.finish({ success: false, message: QUORUM_NOT_REACHED });
    }
  }

  private broadcastInBackground(operationId: string, entry: StoredEntry): void {
    this.broadcast(operationId, [entry], false).catch((error: unknown) =>
      this.deps.logger.warn('mep: asynchronous replication failed', { error: String(error) }),
    );
  }

  private async broadcast(operationId: string, entries: StoredEntry[], requiresAck: boolean): Promise<void> {
    const message: MepReplicate = { operationId, sourceNode: this.self, entries: await Promise.all(entries.map(toMepEntry)), requiresAck };
    await Promise.all(this.peers.map((peer) => this.send(mepTopics.replicate(peer), MEP_EVENT_TYPES.replicate, MepReplicate, message)));
  }

  private onReplicateTopic(event: EcpsEvent): Promise<void> | void {
    // versions come from configured peers only (with the trust layer on, `source` is the authenticated sender)
    const sender = nodeIdFromSource(event.source);
    if (sender === undefined || !this.peers.includes(sender)) {
      this.deps.logger.warn('mep: ignoring replication traffic from a node that is not a configured peer', { source: event.source, type: event.type });
      return;
    }
    switch (event.type) {
      case MEP_EVENT_TYPES.replicate:
        return this.onReplicate(decodeMessageEvent(MepReplicate, event));
      case MEP_EVENT_TYPES.rollback:
        // the undo version that travels with it does the work; decoding still rejects a malformed one
        decodeMessageEvent(MepRollback, event);
        return;
      case MEP_EVENT_TYPES.snapshot:
        return this.onAntiEntropyAnswer(decodeMessageEvent(MepSnapshot, event), correlationOf(event) ?? event.id);
      default:
        this.deps.logger.debug('mep: ignoring event', { type: event.type });
    }
  }

  private async onReplicate(message: MepReplicate): Promise<void> {
    let failure: string | undefined;
    for (const wire of message.entries) {
      try {
        this.memory.merge(await fromMepEntry(wire));
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
        this.deps.logger.warn('mep: rejected a replicated entry', { key: wire.key, error: failure });
      }
    }
    if (!message.requiresAck) return;
    const ack: MepReplicateAck = { operationId: message.operationId, ackNode: this.self, success: failure === undefined, message: failure ?? 'applied' };
    await this.send(mepTopics.ack(message.sourceNode), MEP_EVENT_TYPES.ack, MepReplicateAck, ack);
  }

  /**
   * Counts an acknowledgement for the node that sent it (the event's `source`, which the trust layer binds to the
   * signer), never for a node named inside the message.
   */
  private onAck(event: EcpsEvent): void {
    const ack = decodeMessageEvent(MepReplicateAck, event);
    const sender = nodeIdFromSource(event.source);
    if (sender === undefined || sender !== ack.ackNode) {
      this.deps.logger.warn('mep: ignoring an acknowledgement sent by another node than it names', { source: event.source, ackNode: ack.ackNode });
      return;
    }
    const p = this.pending.get(ack.operationId);
    if (!p || !ack.success || !this.peers.includes(sender)) return;
    p.acks.add(sender);
    if (p.acks.size >= p.needed) {
      this.pending.delete(ack.operationId);
      this.deps.clock.clearTimeout(p.timer);
      p.finish({ success: true, message: '' });
    }
  }

  /** Answers a digest with every version the peer does not cover, in batches that fit the transport. */
  private async onDigest(event: EcpsEvent): Promise<void> {
    const digest = decodeMessageEvent(MepDigest, event);
    if (!this.peers.includes(digest.nodeId)) return;
    // the version vector is read in the same tick as the entries, so it claims nothing they do not carry
    const versions = this.memory.entriesNotCoveredBy(digest.summary);
    const versionVector = this.memory.context.summary();
    const entries = await Promise.all(versions.map(toMepEntry));
    const dominated = Object.entries(versionVector).every(([n, c]) => c <= (digest.summary[n] ?? 0n));
    if (entries.length === 0 && dominated) return;
    const budget = Math.max(1024, this.transport.maxPayloadSize - 4096);
    const batches: MepEntry[][] = [[]];
    let used = 0;
    for (const entry of entries) {
      const size = MepEntry.encode(entry).finish().length + 16;
      if (used + size > budget && batches.at(-1)!.length > 0) {
        batches.push([]);
        used = 0;
      }
      batches.at(-1)!.push(entry);
      used += size;
    }
    const base = { nodeId: this.self, versionVector, entryCount: BigInt(entries.length), timestampNs: this.deps.clock.nowNs() };
    for (const batch of batches) {
      await this.send(mepTopics.replicate(digest.nodeId), MEP_EVENT_TYPES.snapshot, MepSnapshot, { ...base, entries: batch }, event.id);
    }
  }

  /**
   * Merges an anti-entropy answer. The peer's version vector is adopted only once every entry of the answer has
   * been applied, since only then does this node know everything that vector claims.
   */
  private async onAntiEntropyAnswer(snapshot: MepSnapshot, correlation: string): Promise<void> {
    let received = this.answers.get(correlation) ?? 0;
    for (const wire of snapshot.entries) {
      try {
        this.memory.merge(await fromMepEntry(wire));
        received++;
      } catch (error) {
        this.deps.logger.warn('mep: rejected an anti-entropy entry', { key: wire.key, error: String(error) });
      }
    }
    if (BigInt(received) >= snapshot.entryCount) {
      this.answers.delete(correlation);
      this.memory.context.mergeVector(snapshot.versionVector);
    } else {
      this.answers.set(correlation, received);
      if (this.answers.size > 64) this.answers.delete(this.answers.keys().next().value!);
    }
  }

  private async send<T>(topic: string, type: string, fns: MessageFns<T>, message: T, correlation?: string): Promise<void> {
    if (this.closed) return;
    const event = encodeMessageEvent(type, fns, message, {
      source: nodeSource(this.self),
      clock: this.deps.clock,
      random: this.deps.random,
      ...(correlation === undefined ? {} : { extensions: { correlationid: correlation } }),
    });
    try {
      await this.transport.publish(topic, event, { qos: 1 });
    } catch (error) {
      // A down or partitioned peer must not fail the write path: quorum accounting and anti-entropy cover it.
      if (!isEcpsError(error)) throw error;
      this.deps.logger.warn('mep: publish to a peer failed', { topic, type, code: error.code, error: error.message });
    }
  }

  /** Handles one received message; a malformed one is dropped and logged (at error when it was not a typed refusal). */
  private async guard(event: EcpsEvent, fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (isEcpsError(error)) {
        this.deps.logger.warn('mep: dropped a malformed replication message', { type: event.type, source: event.source, code: error.code, error: error.message });
      } else {
        this.deps.logger.error('mep: failed to handle a replication message', { type: event.type, source: event.source, error: String(error) });
      }
    }
  }
}
