// SPDX-License-Identifier: Apache-2.0
// An in-memory network of PeatLinks: deterministic for a given seed and clock, with injectable latency (hence
// reordering), loss, duplication, partitions and one-way cuts. The basis of the convergence tests and of
// simulations with many nodes in one process.
import { seededRandom, systemClock } from '@ecps/core';
import type { Clock, RandomSource } from '@ecps/core';
import { PeatError } from '../errors';
import type { LinkHandler, PeatLink } from './types';

export interface MemoryNetworkOptions {
  readonly clock?: Clock;
  /** Seed of the network's own randomness (loss, duplication, latency). Default 1. */
  readonly seed?: number;
  /** Delivery delay in ms, uniform in [min, max]. Default 1..5. */
  readonly minLatencyMs?: number;
  readonly maxLatencyMs?: number;
  /** Probability a message is lost. Default 0. */
  readonly lossRate?: number;
  /** Probability a message is delivered twice. Default 0. */
  readonly duplicateRate?: number;
  /** Largest message. Default 16 MiB + 64. */
  readonly maxMessageBytes?: number;
}

export interface MemoryNetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  blocked: number;
  bytes: number;
}

/** The shared medium. Create one, then one link per node with {@link MemoryNetwork.link}. */
export class MemoryNetwork {
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, blocked: 0, bytes: 0 };
  readonly clock: Clock;
  lossRate: number;
  duplicateRate: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  private readonly random: RandomSource;
  private readonly handlers = new Map<string, LinkHandler>();
  private groupOf = new Map<string, number>();
  private readonly cuts = new Set<string>();
  private readonly scopes = new Map<string, Set<string>>();
  private readonly maxBytes: number;

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = seededRandom(options.seed ?? 1);
    this.lossRate = options.lossRate ?? 0;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.minLatencyMs = options.minLatencyMs ?? 1;
    this.maxLatencyMs = options.maxLatencyMs ?? 5;
    this.maxBytes = options.maxMessageBytes ?? 16 * 1024 * 1024 + 64;
  }

  /** A link for `nodeId` on this network. */
  link(nodeId: string): PeatLink {
    return new MemoryLink(this, nodeId, this.maxBytes);
  }

  /** Splits the listed nodes into groups that cannot reach each other (unlisted nodes reach everyone). */
  partition(groups: readonly (readonly string[])[]): void {
    this.groupOf = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.groupOf.set(id, i)));
  }

  /** Cuts one direction only (`from` → `to`). */
  cut(from: string, to: string): void {
    this.cuts.add(`${from}\u0000${to}`);
  }

  /** Removes every partition and cut. */
  heal(): void {
    this.groupOf = new Map();
    this.cuts.clear();
  }

  connected(from: string, to: string): boolean {
    if (this.cuts.has(`${from}\u0000${to}`)) return false;
    const a = this.groupOf.get(from);
    const b = this.groupOf.get(to);
    return a === undefined || b === undefined || a === b;
  }

  /** Node ids with a started link (in `scope` only, when given). */
  nodes(scope?: string): string[] {
    if (scope === undefined) return [...this.handlers.keys()];
    return [...(this.scopes.get(scope) ?? [])].filter((id) => this.handlers.has(id));
  }

  /** @internal */
  join(id: string, scope: string): void {
    let members = this.scopes.get(scope);
    if (!members) this.scopes.set(scope, (members = new Set()));
    members.add(id);
  }
  /** @internal */
  leave(id: string, scope: string): void {
    const members = this.scopes.get(scope);
    members?.delete(id);
    if (members?.size === 0) this.scopes.delete(scope);
  }

  /** @internal */
  attach(id: string, handler: LinkHandler): void {
    if (this.handlers.has(id)) throw new PeatError('ALREADY_EXISTS', `node ${id} is already on this network`);
    this.handlers.set(id, handler);
  }
  /** @internal */
  detach(id: string): void {
    this.handlers.delete(id);
    for (const scope of [...this.scopes.keys()]) this.leave(id, scope);
  }

  /** @internal Sends one message; loss happens after the sender was told it was accepted (as on a real network). */
  transmit(from: string, to: string, data: Uint8Array): void {
    this.stats.sent++;
    this.stats.bytes += data.length;
    if (!this.connected(from, to)) {
      this.stats.blocked++;
      return;
    }
    if (this.random.float() < this.lossRate) {
      this.stats.lost++;
      return;
    }
    const copies = this.random.float() < this.duplicateRate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    // receivers get their own copy, as they would from a socket
    const bytes = data.slice();
    for (let i = 0; i < copies; i++) {
      const delay = this.minLatencyMs + this.random.float() * (this.maxLatencyMs - this.minLatencyMs);
      this.clock.setTimeout(() => {
        const h = this.handlers.get(to);
        if (!h || !this.connected(from, to)) {
          this.stats.blocked++;
          return;
        }
        this.stats.delivered++;
        h.message(from, bytes);
      }, delay);
    }
  }
}

class MemoryLink implements PeatLink {
  private started = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly nodeId: string,
    readonly maxMessageBytes: number,
  ) {}

  async start(handler: LinkHandler): Promise<void> {
    if (this.started) return;
    this.network.attach(this.nodeId, handler);
    this.started = true;
  }
  async stop(): Promise<void> {
    if (!this.started) return;
    this.network.detach(this.nodeId);
    this.started = false;
  }
  private check(data: Uint8Array): void {
    if (!this.started) throw new PeatError('CLOSED', 'link stopped');
    if (data.length > this.maxMessageBytes) throw new PeatError('MESSAGE_TOO_LARGE', `message of ${data.length} bytes`);
  }
  async send(to: string, data: Uint8Array): Promise<void> {
    this.check(data);
    this.network.transmit(this.nodeId, to, data);
  }
  async broadcast(data: Uint8Array, scope?: string): Promise<void> {
    this.check(data);
    for (const to of this.network.nodes(scope)) if (to !== this.nodeId) this.network.transmit(this.nodeId, to, data);
  }
  async joinScope(scope: string): Promise<void> {
    if (!this.started) throw new PeatError('CLOSED', 'link stopped');
    this.network.join(this.nodeId, scope);
  }
  async leaveScope(scope: string): Promise<void> {
    this.network.leave(this.nodeId, scope);
  }
}
