// SPDX-License-Identifier: Apache-2.0
// Communication-class lanes (spec §3.3): weighted round robin PRIVILEGED 4 : STANDARD 2 : BULK 1 [ours];
// PRIVILEGED admission is rate-limited by a token bucket (10/s, burst 20) and overflow is demoted to STANDARD.
import type { Clock } from '@ecps/core';
import { systemClock } from '@ecps/core';
import { CommunicationClass } from '@ecps/sw4rm';

/** Options of {@link LaneQueue}. */
export interface LaneOptions {
  weights?: { privileged: number; standard: number; bulk: number };
  privilegedRatePerSec?: number;
  privilegedBurst?: number;
  clock?: Clock;
}

type Lane = CommunicationClass.PRIVILEGED | CommunicationClass.STANDARD | CommunicationClass.BULK;
const ORDER: Lane[] = [CommunicationClass.PRIVILEGED, CommunicationClass.STANDARD, CommunicationClass.BULK];

/** A three-lane queue. */
export class LaneQueue<T> {
  private readonly lanes = new Map<Lane, T[]>(ORDER.map((l) => [l, []]));
  private readonly weights: Map<Lane, number>;
  private readonly credit = new Map<Lane, number>();
  private tokens: number;
  private lastRefill: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly clock: Clock;
  /** PRIVILEGED items demoted to STANDARD by the rate limit. */
  demoted = 0;

  constructor(options: LaneOptions = {}) {
    const w = options.weights ?? { privileged: 4, standard: 2, bulk: 1 };
    this.weights = new Map([
      [CommunicationClass.PRIVILEGED, w.privileged],
      [CommunicationClass.STANDARD, w.standard],
      [CommunicationClass.BULK, w.bulk],
    ]);
    this.rate = options.privilegedRatePerSec ?? 10;
    this.burst = options.privilegedBurst ?? 20;
    this.clock = options.clock ?? systemClock;
    this.tokens = this.burst;
    this.lastRefill = this.clock.now();
    this.resetCredit();
  }

  get size(): number {
    let n = 0;
    for (const q of this.lanes.values()) n += q.length;
    return n;
  }

  /** Adds an item in the lane of `cls` (UNSPECIFIED → STANDARD; rate-limited PRIVILEGED → STANDARD). Returns the lane used. */
  push(item: T, cls: CommunicationClass): Lane {
    let lane: Lane = cls === CommunicationClass.PRIVILEGED || cls === CommunicationClass.BULK ? cls : CommunicationClass.STANDARD;
    if (lane === CommunicationClass.PRIVILEGED && !this.takeToken()) {
      lane = CommunicationClass.STANDARD;
      this.demoted++;
    }
    this.lanes.get(lane)!.push(item);
    return lane;
  }

  /** The next item by weighted round robin, or undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    for (let pass = 0; pass < 2; pass++) {
      for (const lane of ORDER) {
        const q = this.lanes.get(lane)!;
        if (q.length && this.credit.get(lane)! > 0) {
          this.credit.set(lane, this.credit.get(lane)! - 1);
          return q.shift();
        }
      }
      this.resetCredit(); // round over (or only lanes without credit have items)
    }
    return undefined;
  }

  private resetCredit(): void {
    for (const [lane, w] of this.weights) this.credit.set(lane, w);
  }

  private takeToken(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
