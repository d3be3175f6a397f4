// SPDX-License-Identifier: Apache-2.0
// Leader election on a coordination store (the etcd recipe): the leader holds a key attached to its lease and keeps
// the lease alive; when it stops (crash, partition), the lease expires, the key disappears and another candidate
// takes it with compare-and-set.
import { EcpsError, isEcpsError, silentLogger, systemClock } from '@ecps/core';
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import type { CoordinationStore } from './coordination-store';

export interface LeaderElectionOptions {
  readonly store: CoordinationStore;
  /** What is being led; the key is `<prefix><name>`. */
  readonly name: string;
  /** This candidate's id (stored as the key's value). */
  readonly candidate: string;
  /** Lease time to live. Default 5000 ms. */
  readonly ttlMs?: number;
  /** Key prefix. Default `elections/`. */
  readonly prefix?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

const enc = (s: string) => new TextEncoder().encode(s);

/**
 * One candidate. Leadership is advisory: a leader that is cut off keeps believing it leads until its lease runs out
 * on its own clock (up to `ttlMs`, plus clock drift), while another may already have been elected. Protect what a
 * leader does with the store's own compare-and-set (as the task table does), never with leadership alone.
 */
export class LeaderElection {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private readonly key: string;
  private lease: bigint | undefined;
  private leading = false;
  /** Monotonic time by which our lease has certainly expired unless renewed (we stop believing we lead then). */
  private validUntil = 0;
  private timer: TimerHandle | undefined;
  private closed = false;
  private readonly listeners = new Set<(leading: boolean) => void>();

  /** @throws EcpsError `INVALID_ARGUMENT` for an empty name or candidate, or a ttl under 100 ms. */
  constructor(private readonly options: LeaderElectionOptions) {
    if (options.name === '' || options.candidate === '') throw new EcpsError('INVALID_ARGUMENT', 'an election needs a name and a candidate');
    this.ttlMs = options.ttlMs ?? 5_000;
    if (this.ttlMs < 100) throw new EcpsError('INVALID_ARGUMENT', 'ttlMs must be at least 100');
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.key = `${options.prefix ?? 'elections/'}${options.name}`;
  }

  /** Whether this candidate leads, as far as it knows (see the class comment). */
  isLeader(): boolean {
    if (this.leading && this.clock.monotonic() >= this.validUntil) this.setLeading(false);
    return this.leading;
  }

  /** A linearizable read of the current leader's id. */
  async leader(): Promise<string | undefined> {
    const { value } = await this.options.store.get(this.key);
    return value === undefined ? undefined : new TextDecoder().decode(value);
  }

  /** Called with true when this candidate becomes leader and false when it stops. */
  onChange(listener: (leading: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs for leadership until elected or closed: tries to take the key, and while someone else holds it, tries again
   * every third of the ttl. Once elected, renews the lease every third of the ttl; if a renewal finds the lease gone
   * it steps down and campaigns again. Resolves once elected.
   * @throws EcpsError `CLOSED` when closed before being elected.
   */
  async campaign(): Promise<void> {
    while (!this.closed) {
      try {
        if (await this.tryAcquire()) {
          this.keepLeading();
          return;
        }
      } catch (error) {
        this.logger.debug('election attempt failed', { name: this.options.name, error: String(error) });
      }
      await new Promise<void>((resolve) => {
        this.timer = this.clock.setTimeout(resolve, this.ttlMs / 3);
      });
    }
    throw new EcpsError('CLOSED', 'the election was closed');
  }

  /** Gives leadership up now (revokes the lease, deleting the key). */
  async resign(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.setLeading(false);
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (lease !== undefined) await this.options.store.revokeLease(lease);
  }

  /** Stops campaigning and resigns. */
  async close(): Promise<void> {
    this.closed = true;
    await this.resign().catch(() => undefined);
  }

  private async tryAcquire(): Promise<boolean> {
    // a lease we hold runs from our last grant or renewal: renew it first so that winning leaves a whole ttl
    const started = this.clock.monotonic();
    if (this.lease !== undefined && !(await this.options.store.keepAlive(this.lease))) this.lease = undefined;
    this.lease ??= await this.options.store.grantLease(this.ttlMs);
    const mine = enc(this.options.candidate);
    let taken: boolean;
    try {
      taken = await this.options.store.compareAndSet(this.key, undefined, mine, { lease: this.lease });
    } catch (error) {
      // our lease ran out while we waited: the next attempt takes a fresh one
      if (isEcpsError(error, 'NOT_FOUND')) this.lease = undefined;
      throw error;
    }
    // a lost answer: the key may be ours anyway
    const won = taken || (await this.leader()) === this.options.candidate;
    if (won) {
      this.validUntil = started + this.ttlMs;
      this.setLeading(true);
    }
    return won;
  }

  private keepLeading(): void {
    const renew = async () => {
      if (this.closed || this.lease === undefined) return;
      const started = this.clock.monotonic();
      let alive: boolean | undefined;
      try {
        alive = await this.options.store.keepAlive(this.lease);
      } catch (error) {
        // unknown: the store did not answer; we lead until our lease has certainly run out
        this.logger.debug('lease renewal failed', { name: this.options.name, error: String(error) });
      }
      if (alive === true) this.validUntil = started + this.ttlMs;
      if (alive === false || this.clock.monotonic() >= this.validUntil) {
        this.lease = undefined;
        this.setLeading(false);
        void this.campaign().catch(() => undefined);
        return;
      }
      this.timer = this.clock.setTimeout(() => void renew(), this.ttlMs / 3);
    };
    this.timer = this.clock.setTimeout(() => void renew(), this.ttlMs / 3);
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    for (const l of this.listeners) l(leading);
  }
}
