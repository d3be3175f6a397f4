// SPDX-License-Identifier: Apache-2.0
// A Raft KV cluster made of the production pieces (RaftNode, FileStorage, transportNetwork, serveKv, KvClient)
// running inside the seeded SimNetwork of @ecps/testkit: every node has its own simulated disk (only synced bytes
// survive a crash, unsynced writes may be torn), its own clock (drifting, stepped, paused) and its own transport on
// the simulated broker. Clients record a history for the linearizability checker; the cluster checks election
// safety and state machine safety as it runs.
import { seededRandom, toHex } from '@ecps/core';
import type { RandomSource, Subscription, Transport } from '@ecps/core';
import { SimBroker, SimDisk, SimNetwork } from '@ecps/testkit';
import type { HistoryOperation, LinearizabilityModel, SimPacket } from '@ecps/testkit';
import type { Disk } from '../src/disk';
import { FileStorage } from '../src/file-storage';
import { KvClient } from '../src/kv-client';
import { serveKv } from '../src/kv-service';
import { KvStateMachine } from '../src/kv-state-machine';
import { RaftNode } from '../src/raft-node';
import type { StateMachine } from '../src/state-machine';
import { transportNetwork } from '../src/transport-network';
import type { ConfChange } from '../src/types';

export type KvInput =
  | { kind: 'put'; key: string; value: string }
  | { kind: 'delete'; key: string }
  | { kind: 'cas'; key: string; expected: string | null; value: string }
  | { kind: 'get'; key: string };
export interface KvOutput {
  ok: boolean;
  value: string | null;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** The sequential specification of one key. */
export const kvModel: LinearizabilityModel<string | null, KvInput, KvOutput> = {
  init: () => null,
  key: (s) => (s === null ? '\u0000' : s),
  step(state, input, output) {
    switch (input.kind) {
      case 'put':
        return { ok: true, state: input.value };
      case 'delete':
        return { ok: true, state: null };
      case 'get':
        return { ok: output === undefined || output.value === state, state };
      case 'cas': {
        const swap = state === input.expected;
        const ok = output === undefined || output.ok === swap;
        return { ok, state: swap ? input.value : state };
      }
    }
  },
  partition(history) {
    const byKey = new Map<string, HistoryOperation<KvInput, KvOutput>[]>();
    for (const op of history) {
      const list = byKey.get(op.input.key) ?? [];
      list.push(op);
      byKey.set(op.input.key, list);
    }
    return [...byKey.values()];
  },
};

export interface SimClusterOptions {
  seed: number;
  voters?: number;
  /** Nodes that start outside the configuration; the nemesis adds and removes members when > 0. */
  spares?: number;
  dropRate?: number;
  duplicateRate?: number;
  maxDelay?: number;
  snapshotEvery?: number;
  tickMs?: number;
  readOnly?: 'safe' | 'lease';
  /** Clock rates are drawn from [1 - clockSpread, 1 + clockSpread]. Default 0.02. */
  clockSpread?: number;
  /** The bound the nodes assume (RaftNodeOptions.maxClockDrift). Default 0.05. */
  maxClockDrift?: number;
  /** Virtual ms an fsync takes. Default 1. */
  syncLatencyMs?: number;
}

interface Member {
  readonly node: RaftNode;
  readonly store: KvStateMachine;
  readonly transport: Transport;
  readonly kv: Subscription;
}

/** Records what each node applies at each index (state machine safety) around the real store. */
class Recorder implements StateMachine {
  constructor(
    private readonly id: string,
    private readonly inner: KvStateMachine,
    private readonly cluster: SimCluster,
  ) {}
  apply(command: Uint8Array, index: number): Uint8Array {
    this.cluster.recordApplied(this.id, index, command);
    return this.inner.apply(command, index);
  }
  snapshot(): Uint8Array {
    return this.inner.snapshot();
  }
  restore(data: Uint8Array): void {
    this.inner.restore(data);
  }
}

export class SimCluster {
  readonly net: SimNetwork<SimPacket>;
  readonly broker: SimBroker;
  readonly ids: string[];
  readonly voterIds: string[];
  readonly clientIds: string[] = [];
  readonly members = new Map<string, Member | undefined>();
  readonly disks = new Map<string, SimDisk>();
  readonly history: HistoryOperation<KvInput, KvOutput>[] = [];
  /** Safety violations found by the invariant checks. */
  readonly violations: string[] = [];
  /** What the nemesis did (for failure reports). */
  readonly faults: string[] = [];
  readonly rand: RandomSource;
  private readonly leaders = new Map<number, string>();
  private readonly applied = new Map<number, string>();
  private stamp = 0;
  private restarts = 0;
  private running = 0;
  membershipChanges = 0;

  constructor(readonly options: SimClusterOptions) {
    const voters = options.voters ?? 3;
    this.voterIds = Array.from({ length: voters }, (_, i) => `n${i + 1}`);
    const spares = Array.from({ length: options.spares ?? 0 }, (_, i) => `s${i + 1}`);
    this.ids = [...this.voterIds, ...spares];
    this.net = new SimNetwork<SimPacket>({
      seed: options.seed,
      dropRate: options.dropRate ?? 0.03,
      duplicateRate: options.duplicateRate ?? 0.02,
      minDelay: 1,
      maxDelay: options.maxDelay ?? 12,
    });
    this.broker = new SimBroker(this.net);
    this.rand = seededRandom(options.seed ^ 0x5eed);
    const spread = options.clockSpread ?? 0.02;
    for (const id of this.ids) {
      this.net.setClock(id, { rate: 1 - spread + 2 * spread * this.rand.float() });
      this.disks.set(id, new SimDisk({ schedule: (ms, fn) => this.net.schedule(ms, fn), random: seededRandom(this.rand.int(1 << 30)), syncLatencyMs: options.syncLatencyMs ?? 1 }));
    }
  }

  /** Starts every node (asynchronously: run the network to let them come up). */
  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** Starts (or restarts) node `id` from its disk. */
  start(id: string): void {
    this.net.restart(id);
    const incarnation = this.net.incarnation(id);
    const random = seededRandom(this.options.seed * 131 + this.restarts++);
    const transport = this.broker.transport(id, { random });
    const store = new KvStateMachine();
    const clock = this.net.clock(id);
    const started = (async () => {
      const node = await RaftNode.start({
        id,
        peers: { voters: this.voterIds, learners: [] },
        storage: new FileStorage({ dir: `/${id}`, disk: this.disks.get(id) as unknown as Disk, segmentBytes: 16 * 1024 }),
        stateMachine: new Recorder(id, store, this),
        network: transportNetwork({ transport, clusterId: 'sim', nodeId: id, clock, random }),
        tickMs: this.options.tickMs ?? 10,
        electionTick: 10,
        snapshotEvery: this.options.snapshotEvery ?? 25,
        readOnly: this.options.readOnly ?? 'safe',
        maxClockDrift: this.options.maxClockDrift ?? 0.05,
        maxInflight: 8,
        maxSizePerMsg: 4096,
        clock,
        random,
        defer: (fn) => this.net.scheduleOn(id, 0, fn, incarnation),
      });
      node.onLeaderChange((leader, term) => {
        if (leader === id) this.recordLeader(term, id);
      });
      const kv = await serveKv({ transport, clusterId: 'sim', node, store, timeoutMs: 300, clock, random });
      if (this.net.incarnation(id) === incarnation) this.members.set(id, { node, store, transport, kv });
    })();
    started.catch((error: unknown) => this.violations.push(`${id} failed to start: ${String(error)}`));
  }

  /** Kills node `id`: its process stops and its disk loses what was not synced (maybe tearing the last write). */
  crash(id: string): void {
    this.members.set(id, undefined);
    this.net.crash(id);
    this.disks.get(id)?.crash();
    this.faults.push(`${this.net.now}: crash ${id}`);
  }

  restart(id: string): void {
    if (this.net.isUp(id)) return;
    this.faults.push(`${this.net.now}: restart ${id}`);
    this.start(id);
  }

  leader(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.members.values()) {
      if (m?.node.isLeader() && (!best || m.node.status().term > best.node.status().term)) best = m;
    }
    return best;
  }

  recordLeader(term: number, id: string): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) this.violations.push(`two leaders in term ${term}: ${prev} and ${id}`);
    this.leaders.set(term, id);
  }

  recordApplied(node: string, index: number, command: Uint8Array): void {
    const sig = toHex(command);
    const prev = this.applied.get(index);
    if (prev !== undefined && prev !== sig) this.violations.push(`${node} applied a different command at ${index}`);
    this.applied.set(index, sig);
  }

  // ------------------------------------------------------------------ clients

  /**
   * Starts `n` clients, each with its own node and KvClient, running `lanes` concurrent loops of random operations
   * on `keys` keys until virtual time `until` (the lanes of one client pipeline over its one session).
   */
  startClients(n: number, keys: number, until: number, lanes = 2): void {
    for (let i = 0; i < n; i++) {
      const id = `c${i + 1}`;
      // a short deadline: some calls end without knowing their outcome, which the checker must handle
      const client = this.client(id, 700);
      for (let lane = 0; lane < lanes; lane++) {
        this.running++;
        void this.loop(`${id}/${lane}`, client, keys, until).finally(() => this.running--);
      }
    }
  }

  /** A KvClient on its own simulated node `id` (listed among the clients, so partitions place it). */
  client(id: string, deadlineMs = 2_500, attemptTimeoutMs = 120): KvClient {
    this.clientIds.push(id);
    const seed = this.options.seed * 977 + this.clientIds.length;
    return new KvClient({
      transport: this.broker.transport(id, { random: seededRandom(seed) }),
      clusterId: 'sim',
      members: this.voterIds,
      nodeId: id,
      attemptTimeoutMs,
      deadlineMs,
      clock: this.net.clock(id),
      random: seededRandom(seed + 1),
    });
  }

  /** Runs the network until `done` holds (or `ms` of virtual time pass); true when it holds. */
  runUntil(done: () => boolean, ms = 5_000): Promise<boolean> {
    return this.net.runWhileAsync(done, this.net.now + ms);
  }

  /** Runs the network until `promise` settles (or `ms` pass) and returns its outcome. */
  async settle<T>(promise: Promise<T>, ms = 5_000): Promise<{ value?: T; error?: unknown; done: boolean }> {
    let out: { value?: T; error?: unknown; done: boolean } = { done: false };
    promise.then(
      (value) => (out = { value, done: true }),
      (error: unknown) => (out = { error, done: true }),
    );
    await this.runUntil(() => out.done, ms);
    return out;
  }

  clientsDone(): boolean {
    return this.running === 0;
  }

  /** Calls that failed after the faults stopped (there must be none: the cluster makes progress again). */
  readonly failedAfterFaults: string[] = [];

  private async loop(who: string, client: KvClient, keys: number, until: number): Promise<void> {
    let n = 0;
    while (this.net.now < until) {
      n++;
      const key = `k${this.rand.int(keys)}`;
      const roll = this.rand.int(10);
      const value = `${who}-${n}`;
      const input: KvInput =
        roll < 3
          ? { kind: 'put', key, value }
          : roll < 4
            ? { kind: 'delete', key }
            : roll < 6
              ? { kind: 'cas', key, expected: this.rand.int(2) === 0 ? null : `${who}-${Math.max(1, n - 1 - this.rand.int(3))}`, value }
              : { kind: 'get', key };
      await this.record(who, client, input);
    }
    // once the faults stop every call must succeed: write and read each key
    for (let k = 0; k < keys; k++) {
      for (const input of [{ kind: 'put', key: `k${k}`, value: `${who}-final` }, { kind: 'get', key: `k${k}` }] as KvInput[]) {
        if (!(await this.record(who, client, input, true))) this.failedAfterFaults.push(`${who} ${input.kind} k${k}`);
      }
    }
  }

  /** Performs one call (a patient caller tries again, as a new call) and records it; false when all stayed unknown. */
  private async record(who: string, client: KvClient, input: KvInput, patient = false): Promise<boolean> {
    for (let attempt = 0; attempt < (patient ? 6 : 1); attempt++) {
      const at = this.history.length;
      this.history.push({ clientId: who, input, output: undefined, call: this.stamp++, return: Infinity });
      try {
        const output = await this.perform(client, input);
        this.history[at] = { ...(this.history[at] as HistoryOperation<KvInput, KvOutput>), output, return: this.stamp++ };
        return true;
      } catch {
        // outcome unknown (TIMEOUT): the call stays open-ended in the history
      }
    }
    return false;
  }

  private async perform(client: KvClient, input: KvInput): Promise<KvOutput> {
    switch (input.kind) {
      case 'put':
        await client.put(input.key, enc(input.value));
        return { ok: true, value: null };
      case 'delete':
        await client.delete(input.key);
        return { ok: true, value: null };
      case 'cas':
        return { ok: await client.compareAndSet(input.key, input.expected === null ? undefined : enc(input.expected), enc(input.value)), value: null };
      case 'get': {
        const r = await client.get(input.key);
        return { ok: r.value !== undefined, value: r.value === undefined ? null : dec(r.value) };
      }
    }
  }

  // ------------------------------------------------------------------ faults

  /**
   * Random faults every ~`period` ms until `until`: partitions that split nodes and clients into two sides, leader
   * isolation, one-way cuts, crashes with disk loss and restarts, process pauses, wall-clock steps, leadership
   * transfers and membership changes.
   */
  startNemesis(until: number, period = 120): void {
    const everyone = () => [...this.ids, ...this.clientIds];
    const act = () => {
      if (this.net.now >= until) return;
      const up = this.ids.filter((id) => this.members.get(id) !== undefined);
      const down = this.ids.filter((id) => !this.net.isUp(id));
      const roll = (this.options.spares ?? 0) > 0 && this.rand.int(4) === 0 ? -1 : this.rand.int(12);
      if (roll < 0) {
        this.changeMembership();
      } else if (roll < 2) {
        const shuffled = [...everyone()].sort(() => this.rand.float() - 0.5);
        const cut = 1 + this.rand.int(shuffled.length - 1);
        this.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        this.faults.push(`${this.net.now}: partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
      } else if (roll < 4) {
        this.net.heal();
        this.faults.push(`${this.net.now}: heal`);
      } else if (roll < 5) {
        const l = this.leader();
        if (l) {
          // the old leader keeps one client on its side: reads there must not be served stale
          const client = this.clientIds[this.rand.int(this.clientIds.length)] as string;
          this.net.partition([[l.node.id, client]]);
          this.faults.push(`${this.net.now}: isolate leader ${l.node.id} with ${client}`);
        }
      } else if (roll < 6) {
        const all = everyone();
        const a = all[this.rand.int(all.length)] as string;
        const b = all[this.rand.int(all.length)] as string;
        if (a !== b) {
          this.net.cutOneWay(a, b);
          this.faults.push(`${this.net.now}: cut ${a} -> ${b}`);
        }
      } else if (roll < 8 && up.length > 1) {
        const l = this.leader();
        this.crash(l && this.rand.int(2) === 0 ? l.node.id : (up[this.rand.int(up.length)] as string));
      } else if (roll < 9 && down.length > 0) {
        this.restart(down[this.rand.int(down.length)] as string);
      } else if (roll < 10 && up.length > 0) {
        const l = this.leader();
        const victim = l && this.rand.int(2) === 0 ? l.node.id : (up[this.rand.int(up.length)] as string);
        const ms = 30 + this.rand.int(250);
        this.net.pause(victim, ms);
        this.faults.push(`${this.net.now}: pause ${victim} ${ms} ms`);
      } else if (roll < 11 && up.length > 0) {
        const victim = up[this.rand.int(up.length)] as string;
        const step = (this.rand.int(2) === 0 ? -1 : 1) * (1_000 + this.rand.int(60_000));
        this.net.jumpClock(victim, step);
        this.faults.push(`${this.net.now}: clock of ${victim} steps ${step} ms`);
      } else {
        const l = this.leader();
        const target = this.voterIds[this.rand.int(this.voterIds.length)] as string;
        if (l && target !== l.node.id) {
          l.node.transferLeadership(target);
          this.faults.push(`${this.net.now}: transfer ${l.node.id} -> ${target}`);
        }
      }
      this.net.schedule(period / 2 + this.rand.int(period), act);
    };
    this.net.schedule(period, act);
  }

  /** Faults stop: the network heals and every node comes back. */
  endFaults(): void {
    this.net.heal();
    for (const id of this.ids) this.restart(id);
    this.faults.push(`${this.net.now}: faults end`);
  }

  /** Asks the leader for one random single-server change, keeping at least three voters. */
  private changeMembership(): void {
    const l = this.leader();
    if (!l) return;
    const conf = l.node.status().confState;
    const id = this.ids[this.rand.int(this.ids.length)] as string;
    const type: ConfChange['type'] | undefined = conf.voters.includes(id)
      ? conf.voters.length > 3
        ? 'removeNode'
        : undefined
      : conf.learners.includes(id)
        ? this.rand.int(3) === 0
          ? 'removeNode'
          : 'addVoter'
        : this.rand.int(2) === 0
          ? 'addLearner'
          : 'addVoter';
    if (!type) return;
    l.node.changeMembership({ type, nodeId: id }, 1_000).then(
      () => this.membershipChanges++,
      () => undefined,
    );
    this.faults.push(`${this.net.now}: ${type} ${id}`);
  }
}
