// SPDX-License-Identifier: Apache-2.0
// A Raft cluster of KV replicas inside the seeded SimNetwork of @ecps/testkit, with clients that retry through
// leader changes, a recorded history, and the Raft safety invariants checked after every step.
import { seededRandom, toHex } from '@ecps/core';
import { KvCommand, KvResult } from '@ecps/proto/ext/v1';
import { SimNetwork } from '@ecps/testkit';
import type { HistoryOperation, LinearizabilityModel } from '@ecps/testkit';
import { KvStateMachine } from '../src/kv-state-machine';
import { decodeRaftMessage, encodeRaftMessage } from '../src/message-codec';
import { RaftCore } from '../src/raft-core';
import { MemoryStorage } from '../src/storage';
import type { Message, NodeId, Snapshot } from '../src/types';

export type KvInput =
  | { kind: 'put'; key: string; value: string }
  | { kind: 'delete'; key: string }
  | { kind: 'cas'; key: string; expected: string | null; value: string }
  | { kind: 'get'; key: string };
export interface KvOutput {
  ok: boolean;
  value: string | null;
}

interface ClientRequest {
  kind: 'request';
  clientId: string;
  seq: number;
  attempt: number;
  input: KvInput;
}
interface ClientReply {
  kind: 'reply';
  clientId: string;
  seq: number;
  attempt: number;
  output?: KvOutput;
  redirect?: string;
}
type Wire = { kind: 'raft'; bytes: Uint8Array } | ClientRequest | ClientReply;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function toCommand(clientId: string, seq: number, input: KvInput): Uint8Array {
  const base = { clientId, sequence: BigInt(seq) };
  switch (input.kind) {
    case 'put':
      return KvCommand.encode({ ...base, op: { $case: 'put', value: { key: input.key, value: enc.encode(input.value) } } }).finish();
    case 'delete':
      return KvCommand.encode({ ...base, op: { $case: 'delete', value: { key: input.key } } }).finish();
    case 'cas':
      return KvCommand.encode({
        ...base,
        op: {
          $case: 'cas',
          value: {
            key: input.key,
            expectAbsent: input.expected === null,
            expected: enc.encode(input.expected ?? ''),
            value: enc.encode(input.value),
          },
        },
      }).finish();
    case 'get':
      return KvCommand.encode({ ...base, op: { $case: 'get', value: { key: input.key } } }).finish();
  }
}

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
  learners?: number;
  /** Nodes that start outside the configuration; the nemesis adds and removes members when > 0. */
  spares?: number;
  dropRate?: number;
  duplicateRate?: number;
  maxDelay?: number;
  snapshotEvery?: number;
  tickMs?: number;
  readOnly?: 'safe' | 'lease';
  /** A deliberate bug for checking the checker: serve gets from the local replica without ReadIndex. */
  unsafeLocalReads?: boolean;
}

class SimReplica {
  core: RaftCore;
  sm = new KvStateMachine();
  waiting = new Map<string, ClientRequest>();
  reads = new Map<string, ClientRequest>();
  readyReads: { index: number; req: ClientRequest }[] = [];

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    readonly cluster: SimCluster,
    voters: string[],
    learners: string[],
    seed: number,
  ) {
    const st = storage.load();
    this.core = new RaftCore({
      id,
      random: seededRandom(seed),
      ...st,
      peers: { voters, learners },
      readOnly: cluster.options.readOnly ?? 'safe',
      maxInflight: 8,
      maxSizePerMsg: 4096,
    });
    if (st.snapshot) this.sm.restore(st.snapshot.data);
    // committed entries after the snapshot are re-applied by the first ready()
  }

  flush(): void {
    const c = this.cluster;
    while (this.core.hasReady()) {
      const rd = this.core.ready();
      if (rd.softState?.role === 'leader') c.recordLeader(this.core.currentTerm, this.id);
      this.storage.save(rd, rd.mustSync);
      for (const m of rd.messages) c.sendRaft(m);
      if (rd.snapshot) this.sm.restore(rd.snapshot.data);
      for (const e of rd.committedEntries) {
        c.recordApplied(this.id, e.index, e.term, e.data);
        if (e.type !== 'normal' || e.data.length === 0) continue;
        const result = this.sm.applyCommand(e.data, e.index);
        const cmd = KvCommand.decode(e.data);
        const w = this.waiting.get(cmd.clientId);
        if (w && BigInt(w.seq) === cmd.sequence) {
          this.waiting.delete(cmd.clientId);
          c.reply(this.id, w, { output: outputOf(w.input, result) });
        }
      }
      for (const rs of rd.readStates) {
        const key = toHex(rs.context);
        const req = this.reads.get(key);
        if (req) {
          this.reads.delete(key);
          this.readyReads.push({ index: rs.index, req });
        }
      }
      this.serveReads();
      this.maybeSnapshot();
    }
  }

  private serveReads(): void {
    const applied = this.core.appliedIndex;
    this.readyReads = this.readyReads.filter(({ index, req }) => {
      if (index > applied) return true;
      const v = this.sm.read(req.input.key);
      this.cluster.reply(this.id, req, { output: { ok: v !== undefined, value: v === undefined ? null : dec.decode(v) } });
      return false;
    });
  }

  private maybeSnapshot(): void {
    const every = this.cluster.options.snapshotEvery ?? 25;
    const applied = this.core.appliedIndex;
    if (applied - this.core.firstIndex() < every) return;
    const term = this.core.termAt(applied);
    if (term === undefined) return;
    const snap: Snapshot = { meta: { index: applied, term, confState: this.core.confState }, data: this.sm.snapshot() };
    this.core.compact(snap);
    this.storage.compact(snap);
  }

  onRequest(req: ClientRequest): void {
    if (req.input.kind === 'get' && this.cluster.options.unsafeLocalReads) {
      const v = this.sm.read(req.input.key);
      this.cluster.reply(this.id, req, { output: { ok: v !== undefined, value: v === undefined ? null : dec.decode(v) } });
      return;
    }
    if (req.input.kind === 'get') {
      const ctx = enc.encode(`${req.clientId}/${req.seq}/${req.attempt}`);
      if (this.core.currentLeader === '') {
        this.cluster.reply(this.id, req, { redirect: '' });
        return;
      }
      this.reads.set(toHex(ctx), req);
      this.core.readIndex(ctx);
    } else {
      try {
        this.core.propose(toCommand(req.clientId, req.seq, req.input));
        this.waiting.set(req.clientId, req);
      } catch {
        this.cluster.reply(this.id, req, { redirect: this.core.currentLeader });
        return;
      }
    }
    this.flush();
  }
}

function outputOf(input: KvInput, r: KvResult): KvOutput {
  if (input.kind === 'cas') return { ok: r.ok, value: null };
  if (input.kind === 'get') return { ok: r.found, value: r.found ? dec.decode(r.value) : null };
  return { ok: true, value: null };
}

interface SimClient {
  id: string;
  seq: number;
  attempt: number;
  target: string;
  current?: { input: KvInput; call: number; index: number };
  done: boolean;
}

export class SimCluster {
  readonly net: SimNetwork<Wire>;
  readonly ids: string[];
  readonly replicas = new Map<string, SimReplica | undefined>();
  readonly storages = new Map<string, MemoryStorage>();
  readonly history: HistoryOperation<KvInput, KvOutput>[] = [];
  /** Safety violations found by the invariant checks. */
  readonly violations: string[] = [];
  private readonly leaders = new Map<number, string>();
  private readonly applied = new Map<number, string>();
  private readonly rand;
  private stamp = 0;
  private clients: SimClient[] = [];
  private restarts = 0;
  private readonly voterIds: string[];
  private readonly learnerIds: string[];

  constructor(readonly options: SimClusterOptions) {
    const voters = options.voters ?? 3;
    const learners = options.learners ?? 0;
    this.voterIds = Array.from({ length: voters }, (_, i) => `n${i + 1}`);
    this.learnerIds = Array.from({ length: learners }, (_, i) => `l${i + 1}`);
    const spares = Array.from({ length: options.spares ?? 0 }, (_, i) => `s${i + 1}`);
    this.ids = [...this.voterIds, ...this.learnerIds, ...spares];
    this.net = new SimNetwork<Wire>({
      seed: options.seed,
      dropRate: options.dropRate ?? 0.05,
      duplicateRate: options.duplicateRate ?? 0.02,
      minDelay: 1,
      maxDelay: options.maxDelay ?? 20,
    });
    this.rand = seededRandom(options.seed ^ 0x5eed);
    this.net.onDeliver((to, w) => this.deliver(to, w));
    for (const id of this.ids) {
      this.storages.set(id, new MemoryStorage());
      this.start(id);
    }
  }

  private start(id: string): void {
    const storage = this.storages.get(id) as MemoryStorage;
    const r = new SimReplica(id, storage, this, this.voterIds, this.learnerIds, this.options.seed * 31 + this.restarts++);
    this.replicas.set(id, r);
    this.net.restart(id);
    const tickMs = this.options.tickMs ?? 10;
    const loop = () => {
      if (this.replicas.get(id) !== r) return;
      r.core.tick();
      r.flush();
      this.net.schedule(tickMs, loop);
    };
    this.net.schedule(1 + this.rand.int(tickMs), loop);
    r.flush();
  }

  crash(id: string): void {
    this.replicas.set(id, undefined);
    this.net.crash(id);
  }

  restart(id: string): void {
    if (this.replicas.get(id) === undefined) this.start(id);
  }

  replica(id: string): SimReplica | undefined {
    return this.replicas.get(id);
  }

  leader(): SimReplica | undefined {
    let best: SimReplica | undefined;
    for (const r of this.replicas.values()) {
      if (r && r.core.currentRole === 'leader' && (!best || r.core.currentTerm > best.core.currentTerm)) best = r;
    }
    return best;
  }

  sendRaft(m: Message): void {
    // every message crosses the simulated wire in its protobuf form
    this.net.send(m.from, m.to, { kind: 'raft', bytes: encodeRaftMessage(m) });
  }

  private deliver(to: string, w: Wire): void {
    const r = this.replicas.get(to);
    if (w.kind === 'reply') {
      this.onReply(w);
      return;
    }
    if (!r) return;
    if (w.kind === 'raft') {
      r.core.step(decodeRaftMessage(w.bytes).message);
      r.flush();
    } else {
      r.onRequest(w);
    }
  }

  reply(from: string, req: ClientRequest, body: { output?: KvOutput; redirect?: string }): void {
    this.net.send(from, req.clientId, { kind: 'reply', clientId: req.clientId, seq: req.seq, attempt: req.attempt, ...body });
  }

  recordLeader(term: number, id: string): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) this.violations.push(`two leaders in term ${term}: ${prev} and ${id}`);
    this.leaders.set(term, id);
  }

  recordApplied(node: string, index: number, term: number, data: Uint8Array): void {
    const sig = `${term}:${toHex(data)}`;
    const prev = this.applied.get(index);
    if (prev !== undefined && prev !== sig) this.violations.push(`${node} applied a different entry at ${index}`);
    this.applied.set(index, sig);
  }

  // ------------------------------------------------------------------ clients

  /** Starts `n` clients that issue random operations on `keys` keys until virtual time `until`. */
  startClients(n: number, keys: number, until: number, timeoutMs = 150): void {
    for (let i = 0; i < n; i++) {
      const c: SimClient = { id: `c${i + 1}`, seq: 0, attempt: 0, target: this.voterIds[0] as string, done: false };
      this.clients.push(c);
      this.net.restart(c.id);
      this.net.schedule(this.rand.int(20), () => this.nextOp(c, keys, until, timeoutMs));
    }
  }

  private nextOp(c: SimClient, keys: number, until: number, timeoutMs: number): void {
    if (this.net.now >= until) {
      c.done = true;
      return;
    }
    const key = `k${this.rand.int(keys)}`;
    const roll = this.rand.int(10);
    const value = `${c.id}-${c.seq + 1}`;
    const input: KvInput =
      roll < 3
        ? { kind: 'put', key, value }
        : roll < 4
          ? { kind: 'delete', key }
          : roll < 6
            ? { kind: 'cas', key, expected: this.rand.int(2) === 0 ? null : `c${1 + this.rand.int(3)}-${1 + this.rand.int(Math.max(1, c.seq))}`, value }
            : { kind: 'get', key };
    c.seq++;
    c.attempt = 0;
    c.current = { input, call: this.stamp++, index: this.history.length };
    this.history.push({ clientId: c.id, input, output: undefined, call: c.current.call, return: Infinity });
    this.sendAttempt(c, keys, until, timeoutMs);
  }

  private sendAttempt(c: SimClient, keys: number, until: number, timeoutMs: number): void {
    const cur = c.current;
    if (!cur) return;
    const attempt = ++c.attempt;
    this.net.send(c.id, c.target, { kind: 'request', clientId: c.id, seq: c.seq, attempt, input: cur.input });
    this.net.schedule(timeoutMs, () => {
      if (c.current !== cur || c.attempt !== attempt) return;
      // no answer: try another node with the same sequence number (the state machine deduplicates)
      c.target = this.ids[this.rand.int(this.ids.length)] as string;
      if (this.net.now > until + 20 * timeoutMs) {
        c.current = undefined;
        c.done = true;
        return;
      }
      this.sendAttempt(c, keys, until, timeoutMs);
    });
    this.pending.set(c.id, { keys, until, timeoutMs });
  }

  private pending = new Map<string, { keys: number; until: number; timeoutMs: number }>();

  private onReply(w: ClientReply): void {
    const c = this.clients.find((x) => x.id === w.clientId);
    const p = this.pending.get(w.clientId);
    if (!c || !c.current || !p || w.seq !== c.seq || w.attempt !== c.attempt) return;
    if (w.output === undefined) {
      if (w.redirect) c.target = w.redirect;
      else c.target = this.ids[this.rand.int(this.ids.length)] as string;
      const attempt = c.attempt;
      const cur = c.current;
      this.net.schedule(5, () => {
        if (c.current === cur && c.attempt === attempt) this.sendAttempt(c, p.keys, p.until, p.timeoutMs);
      });
      return;
    }
    const op = this.history[c.current.index] as HistoryOperation<KvInput, KvOutput>;
    this.history[c.current.index] = { ...op, output: w.output, return: this.stamp++ };
    c.current = undefined;
    this.nextOp(c, p.keys, p.until, p.timeoutMs);
  }

  clientsDone(): boolean {
    return this.clients.every((c) => c.done);
  }

  // ------------------------------------------------------------------ faults

  /** Random faults every `period` ms until `until`: partitions, heals, crashes and restarts, leadership transfers. */
  startNemesis(until: number, period = 150): void {
    const act = () => {
      if (this.net.now >= until) {
        this.net.heal();
        for (const id of this.ids) this.restart(id);
        return;
      }
      const roll = (this.options.spares ?? 0) > 0 && this.rand.int(3) === 0 ? -1 : this.rand.int(10);
      const up = this.ids.filter((id) => this.replicas.get(id) !== undefined);
      const down = this.ids.filter((id) => this.replicas.get(id) === undefined);
      if (roll < 0) {
        this.changeMembership();
      } else if (roll < 2) {
        const shuffled = [...this.ids].sort(() => this.rand.float() - 0.5);
        const cut = 1 + this.rand.int(this.ids.length - 1);
        this.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      } else if (roll < 4) {
        this.net.heal();
      } else if (roll < 6 && up.length > 1) {
        const l = this.leader();
        const victim = l && this.rand.int(2) === 0 ? l.id : (up[this.rand.int(up.length)] as string);
        this.crash(victim);
      } else if (roll < 8 && down.length > 0) {
        this.restart(down[this.rand.int(down.length)] as string);
      } else if (roll < 9) {
        const l = this.leader();
        const target = this.ids[this.rand.int(this.ids.length)] as string;
        if (l) {
          l.core.transferLeadership(target);
          l.flush();
        }
      } else {
        const l = this.leader();
        if (l) this.net.partition([[l.id]]);
      }
      this.net.schedule(period / 2 + this.rand.int(period), act);
    };
    this.net.schedule(period, act);
  }

  /** Asks the leader for one random single-server change, keeping at least three voters. */
  private changeMembership(): void {
    const l = this.leader();
    if (!l) return;
    const conf = l.core.confState;
    const id = this.ids[this.rand.int(this.ids.length)] as string;
    const type = conf.voters.includes(id)
      ? conf.voters.length > 3
        ? 'removeNode'
        : undefined
      : conf.learners.includes(id)
        ? this.rand.int(3) === 0 ? 'removeNode' : 'addVoter'
        : this.rand.int(2) === 0 ? 'addLearner' : 'addVoter';
    if (!type) return;
    try {
      l.core.proposeConfChange({ type, nodeId: id });
      this.membershipChanges++;
    } catch {
      // a change in progress, or a transfer: the nemesis just tries again later
    }
    l.flush();
  }

  membershipChanges = 0;
}
