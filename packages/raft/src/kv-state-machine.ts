// SPDX-License-Identifier: Apache-2.0
// The replicated key-value store: put, delete, compare-and-set, ranges and leases, with client sessions that make
// retried writes apply once (thesis §6.3). Time inside the store is a replicated clock driven by the leaders'
// monotonic clocks (stamped on each command), so every replica expires the same sessions and leases at the same
// log position; the clock stands still while there is no leader, which extends leases across a failover.
import { ValidationError } from '@ecps/core';
import { KvCommand, KvResult, KvSnapshotData } from '@ecps/proto/ext/v1';
import type { KvEntry, KvSession } from '@ecps/proto/ext/v1';
import type { StateMachine } from './state-machine';

/** Bounds of the store's bookkeeping (every replica must use the same values). */
export interface KvLimits {
  /** Client sessions kept; beyond it the least recently active one is evicted. Default 10 000. */
  readonly maxSessions?: number;
  /** A session idle this long on the replicated clock expires. Default 15 minutes. */
  readonly sessionTtlMs?: number;
  /** Unacknowledged answers kept per session (pipelined writes of one client). Default 1024. */
  readonly maxPendingPerSession?: number;
  /** Leases kept at once. Default 100 000. */
  readonly maxLeases?: number;
  /** Largest lease time to live. Default 1 day. */
  readonly maxLeaseTtlMs?: number;
  /** Most entries one range returns. Default 10 000. */
  readonly maxRange?: number;
}

interface Session {
  readonly owner: string;
  floor: bigint;
  readonly results: Map<bigint, KvResult>;
  lastActive: number;
}

interface Lease {
  readonly ttl: number;
  expiresAt: number;
  readonly keys: Set<string>;
}

interface Value {
  readonly value: Uint8Array;
  readonly lease: bigint;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const EMPTY = new Uint8Array(0);

function result(index: bigint, fields: Partial<KvResult> = {}): KvResult {
  return { ok: false, value: EMPTY, found: false, index, error: '', session: 0n, entries: [], lease: 0n, ttlMs: 0n, ...fields };
}

/**
 * A key-value {@link StateMachine}. Commands are encoded `KvCommand`s; replies are encoded `KvResult`s. A refused
 * command is a result whose `error` starts with an `EcpsError` code: `NOT_FOUND: session` / `NOT_FOUND: lease`
 * (expired or unknown),
 * `PERMISSION_DENIED` (a session used by another node), `RESOURCE_EXHAUSTED` (too many pending answers or leases),
 * `STALE_MESSAGE` (a write the client already has the answer of), `DECODE_ERROR`, `INVALID_ARGUMENT`.
 */
export class KvStateMachine implements StateMachine {
  private data = new Map<string, Value>();
  /** In least-recently-active order (the order is replicated: eviction must pick the same session everywhere). */
  private sessions = new Map<bigint, Session>();
  private leases = new Map<bigint, Lease>();
  private clockMs = 0;
  private clockTerm = 0n;
  private clockLeaderMs = 0;
  private nextLeaseExpiry = Infinity;
  private readonly limits: Required<KvLimits>;

  constructor(limits: KvLimits = {}) {
    this.limits = {
      maxSessions: limits.maxSessions ?? 10_000,
      sessionTtlMs: limits.sessionTtlMs ?? 15 * 60_000,
      maxPendingPerSession: limits.maxPendingPerSession ?? 1024,
      maxLeases: limits.maxLeases ?? 100_000,
      maxLeaseTtlMs: limits.maxLeaseTtlMs ?? 24 * 3_600_000,
      maxRange: limits.maxRange ?? 10_000,
    };
  }

  /** Reads the local replica (linearizable only after a ReadIndex round, as `serveKv` does). */
  read(key: string): Uint8Array | undefined {
    return this.data.get(key)?.value;
  }

  /** Keys starting with `prefix`, in order, at most `limit` (capped by `maxRange`). Local, like {@link read}. */
  range(prefix: string, limit = 0): KvEntry[] {
    const max = limit > 0 ? Math.min(limit, this.limits.maxRange) : this.limits.maxRange;
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
    return keys.slice(0, max).map((key) => {
      const v = this.data.get(key) as Value;
      return { key, value: v.value, lease: v.lease };
    });
  }

  get size(): number {
    return this.data.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get leaseCount(): number {
    return this.leases.size;
  }

  /** The replicated clock, in ms. */
  get clock(): number {
    return this.clockMs;
  }

  apply(command: Uint8Array, index: number): Uint8Array {
    return KvResult.encode(this.applyCommand(command, index)).finish();
  }

  /** Like {@link apply} but returns the decoded result. */
  applyCommand(command: Uint8Array, index: number): KvResult {
    const at = BigInt(index);
    let cmd: KvCommand;
    try {
      cmd = KvCommand.decode(command);
    } catch {
      // a malformed entry must not stop the replica: every replica skips it the same way
      return result(at, { error: 'DECODE_ERROR' });
    }
    this.advanceClock(cmd);
    this.expire();
    const op = cmd.op;
    if (op?.$case === 'registerSession') return this.register(cmd.owner, at);
    if (cmd.session === 0n || op?.$case === 'get' || op?.$case === 'range' || op?.$case === 'clockTick') return this.execute(cmd, at);
    const session = this.sessions.get(cmd.session);
    if (!session) return result(at, { error: 'NOT_FOUND: session' });
    if (session.owner !== cmd.owner) return result(at, { error: 'PERMISSION_DENIED' });
    // most recently active goes last
    this.sessions.delete(cmd.session);
    this.sessions.set(cmd.session, session);
    session.lastActive = this.clockMs;
    if (cmd.ackedBelow > session.floor) {
      for (const seq of session.results.keys()) if (seq < cmd.ackedBelow) session.results.delete(seq);
      session.floor = cmd.ackedBelow;
    }
    if (cmd.sequence === 0n) return this.execute(cmd, at);
    // a retried or stale write: answer what it got the first time, never apply it twice
    const known = session.results.get(cmd.sequence);
    if (known) return known;
    if (cmd.sequence < session.floor) return result(at, { error: 'STALE_MESSAGE' });
    if (session.results.size >= this.limits.maxPendingPerSession) return result(at, { error: 'RESOURCE_EXHAUSTED' });
    const r = this.execute(cmd, at);
    session.results.set(cmd.sequence, r);
    return r;
  }

  private register(owner: string, at: bigint): KvResult {
    while (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next().value as bigint;
      this.sessions.delete(oldest);
    }
    this.sessions.set(at, { owner, floor: 1n, results: new Map(), lastActive: this.clockMs });
    return result(at, { ok: true, session: at });
  }

  /** Moves the replicated clock by the proposing leader's elapsed time; a new term only re-anchors it. */
  private advanceClock(cmd: KvCommand): void {
    if (cmd.leaderTerm === 0n) return;
    const leaderMs = Number(cmd.leaderClockMs);
    if (cmd.leaderTerm > this.clockTerm) {
      this.clockTerm = cmd.leaderTerm;
      this.clockLeaderMs = leaderMs;
    } else if (cmd.leaderTerm === this.clockTerm && leaderMs > this.clockLeaderMs) {
      this.clockMs += leaderMs - this.clockLeaderMs;
      this.clockLeaderMs = leaderMs;
    }
  }

  private expire(): void {
    const ttl = this.limits.sessionTtlMs;
    for (const [id, s] of this.sessions) {
      if (s.lastActive + ttl > this.clockMs) break;
      this.sessions.delete(id);
    }
    if (this.clockMs < this.nextLeaseExpiry) return;
    let next = Infinity;
    for (const [id, lease] of [...this.leases]) {
      if (lease.expiresAt <= this.clockMs) this.dropLease(id);
      else next = Math.min(next, lease.expiresAt);
    }
    this.nextLeaseExpiry = next;
  }

  private dropLease(id: bigint): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    this.leases.delete(id);
    for (const key of lease.keys) this.data.delete(key);
  }

  private setValue(key: string, value: Uint8Array, lease: bigint): void {
    this.detach(key);
    this.data.set(key, { value, lease });
    if (lease !== 0n) this.leases.get(lease)?.keys.add(key);
  }

  private deleteKey(key: string): boolean {
    this.detach(key);
    return this.data.delete(key);
  }

  private detach(key: string): void {
    const old = this.data.get(key);
    if (old && old.lease !== 0n) this.leases.get(old.lease)?.keys.delete(key);
  }

  private execute(cmd: KvCommand, at: bigint): KvResult {
    const op = cmd.op;
    switch (op?.$case) {
      case 'put': {
        if (op.value.lease !== 0n && !this.leases.has(op.value.lease)) return result(at, { error: 'NOT_FOUND: lease' });
        this.setValue(op.value.key, op.value.value, op.value.lease);
        return result(at, { ok: true });
      }
      case 'delete':
        return result(at, { ok: true, found: this.deleteKey(op.value.key) });
      case 'cas': {
        const c = op.value;
        if (c.lease !== 0n && !this.leases.has(c.lease)) return result(at, { error: 'NOT_FOUND: lease' });
        const cur = this.data.get(c.key)?.value;
        const matches = c.expectAbsent ? cur === undefined : cur !== undefined && equalBytes(cur, c.expected);
        if (matches) {
          if (c.delete) this.deleteKey(c.key);
          else this.setValue(c.key, c.value, c.lease);
        }
        return result(at, { ok: matches, value: matches ? EMPTY : (cur ?? EMPTY), found: cur !== undefined });
      }
      case 'get': {
        const cur = this.data.get(op.value.key)?.value;
        return result(at, { ok: cur !== undefined, value: cur ?? EMPTY, found: cur !== undefined });
      }
      case 'range':
        return result(at, { ok: true, entries: this.range(op.value.prefix, op.value.limit) });
      case 'leaseGrant': {
        const ttl = Number(op.value.ttlMs);
        if (!(ttl >= 1 && ttl <= this.limits.maxLeaseTtlMs)) return result(at, { error: 'INVALID_ARGUMENT' });
        if (this.leases.size >= this.limits.maxLeases) return result(at, { error: 'RESOURCE_EXHAUSTED' });
        const expiresAt = this.clockMs + ttl;
        this.leases.set(at, { ttl, expiresAt, keys: new Set() });
        this.nextLeaseExpiry = Math.min(this.nextLeaseExpiry, expiresAt);
        return result(at, { ok: true, lease: at, ttlMs: BigInt(ttl) });
      }
      case 'leaseKeepAlive': {
        const lease = this.leases.get(op.value.lease);
        if (!lease) return result(at, { error: 'NOT_FOUND: lease' });
        lease.expiresAt = this.clockMs + lease.ttl;
        return result(at, { ok: true, lease: op.value.lease, ttlMs: BigInt(lease.ttl) });
      }
      case 'leaseRevoke': {
        const found = this.leases.has(op.value.lease);
        this.dropLease(op.value.lease);
        return result(at, { ok: true, found });
      }
      case 'clockTick':
        return result(at, { ok: true });
      default:
        return result(at, { error: 'INVALID_ARGUMENT' });
    }
  }

  /**
   * The whole store. Keys go in the map's order, which every replica shares (the same commands in the same order, or
   * the same snapshot), so no sort is needed to make the bytes identical.
   */
  snapshot(): Uint8Array {
    const keys = [...this.data.keys()];
    const sessions: KvSession[] = [...this.sessions].map(([id, s]) => ({
      id,
      owner: s.owner,
      floor: s.floor,
      results: [...s.results].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([sequence, r]) => ({ sequence, result: r })),
      lastActiveMs: BigInt(s.lastActive),
    }));
    return KvSnapshotData.encode({
      entries: keys.map((key) => {
        const v = this.data.get(key) as Value;
        return { key, value: v.value, lease: v.lease };
      }),
      sessions,
      leases: [...this.leases]
        .sort((a, b) => (a[0] < b[0] ? -1 : 1))
        .map(([id, l]) => ({ id, ttlMs: BigInt(l.ttl), expiresAtMs: BigInt(l.expiresAt), keys: [...l.keys].sort() })),
      clockMs: BigInt(this.clockMs),
      clockTerm: this.clockTerm,
      clockLeaderMs: BigInt(this.clockLeaderMs),
    }).finish();
  }

  restore(bytes: Uint8Array): void {
    let snap: KvSnapshotData;
    try {
      snap = KvSnapshotData.decode(bytes);
    } catch (cause) {
      throw new ValidationError('DECODE_ERROR', 'not a key-value snapshot', { cause });
    }
    this.data = new Map(snap.entries.map((e) => [e.key, { value: e.value, lease: e.lease }]));
    this.sessions = new Map(
      snap.sessions.map((s) => [
        s.id,
        {
          owner: s.owner,
          floor: s.floor,
          results: new Map(s.results.map((r) => [r.sequence, r.result ?? result(0n)])),
          lastActive: Number(s.lastActiveMs),
        },
      ]),
    );
    this.leases = new Map(snap.leases.map((l) => [l.id, { ttl: Number(l.ttlMs), expiresAt: Number(l.expiresAtMs), keys: new Set(l.keys) }]));
    this.nextLeaseExpiry = Infinity;
    for (const l of this.leases.values()) this.nextLeaseExpiry = Math.min(this.nextLeaseExpiry, l.expiresAt);
    this.clockMs = Number(snap.clockMs);
    this.clockTerm = snap.clockTerm;
    this.clockLeaderMs = Number(snap.clockLeaderMs);
  }
}
