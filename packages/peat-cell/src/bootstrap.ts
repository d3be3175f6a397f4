// SPDX-License-Identifier: Apache-2.0
// The BootstrapCoordinator (spec §2): tracks which proposed platforms have joined a forming cell, and decides at
// the timeout whether enough did. Illegal transitions throw, so a caller cannot, for example, retry a run that is
// still going.
import { PeatError } from '@ecps/peat';

export type BootstrapStrategy = 'geographic' | 'directed' | 'capability_based';
export type BootstrapStatus = 'NotStarted' | 'InProgress' | 'Completed' | 'PartiallyCompleted' | 'Failed';

/** Bootstrap times out after 60 s. */
export const BOOTSTRAP_TIMEOUT_MS = 60_000;

export interface BootstrapOptions {
  readonly strategy?: BootstrapStrategy;
  readonly timeoutMs?: number;
}

/** One bootstrap run over a set of platforms. Time is passed in (`now`), never read. */
export class BootstrapCoordinator {
  readonly strategy: BootstrapStrategy;
  private readonly timeoutMs: number;
  private state: BootstrapStatus = 'NotStarted';
  private tracked = new Set<string>();
  private assigned = new Set<string>();
  private startedAt = 0;

  constructor(options: BootstrapOptions = {}) {
    this.strategy = options.strategy ?? 'geographic';
    this.timeoutMs = options.timeoutMs ?? BOOTSTRAP_TIMEOUT_MS;
  }

  get status(): BootstrapStatus {
    return this.state;
  }

  /** Fraction of the tracked platforms assigned (0 with none tracked). */
  get assignmentRate(): number {
    return this.tracked.size === 0 ? 0 : this.assigned.size / this.tracked.size;
  }

  /** NotStarted → InProgress over `platforms`. @throws PeatError `CONFLICT` from any other status; `INVALID_ARGUMENT` with no platforms. */
  start(platforms: readonly string[], now: number): void {
    this.expect('NotStarted', 'start');
    if (platforms.length === 0) throw new PeatError('INVALID_ARGUMENT', 'bootstrap needs at least one platform');
    this.tracked = new Set(platforms);
    this.assigned = new Set();
    this.startedAt = now;
    this.state = 'InProgress';
  }

  /** Records that `platform` joined; Completed once every tracked platform has. Untracked ids are ignored. @throws PeatError `CONFLICT` unless InProgress. */
  markAssigned(platform: string): void {
    this.expect('InProgress', 'markAssigned');
    if (!this.tracked.has(platform)) return;
    this.assigned.add(platform);
    if (this.assigned.size === this.tracked.size) this.state = 'Completed';
  }

  /** At or after the timeout, an InProgress run ends: rate > 0.9 Completed, > 0.5 PartiallyCompleted, else Failed. */
  tick(now: number): BootstrapStatus {
    if (this.state === 'InProgress' && now - this.startedAt >= this.timeoutMs) {
      const rate = this.assignmentRate;
      this.state = rate > 0.9 ? 'Completed' : rate > 0.5 ? 'PartiallyCompleted' : 'Failed';
    }
    return this.state;
  }

  /** InProgress → Completed. @throws PeatError `CONFLICT` from any other status. */
  forceComplete(): void {
    this.expect('InProgress', 'forceComplete');
    this.state = 'Completed';
  }

  /** Back to NotStarted. @throws PeatError `CONFLICT` while InProgress. */
  resetForRetry(): void {
    if (this.state === 'InProgress') throw new PeatError('CONFLICT', 'bootstrap: reset_for_retry while InProgress');
    this.state = 'NotStarted';
    this.tracked = new Set();
    this.assigned = new Set();
  }

  /** Success: Completed with a rate above 0.9. */
  get succeeded(): boolean {
    return this.state === 'Completed' && this.assignmentRate > 0.9;
  }

  private expect(state: BootstrapStatus, op: string): void {
    if (this.state !== state) throw new PeatError('CONFLICT', `bootstrap: ${op} from ${this.state}`);
  }
}

/** Discovery → Cell is allowed only from Discovery and only when bootstrap is not InProgress. @throws PeatError `CONFLICT` otherwise. */
export function assertCanEnterCell(phase: number, status: BootstrapStatus): void {
  if (phase !== 1) throw new PeatError('CONFLICT', `cell phase can be entered only from discovery (phase ${phase})`);
  if (status === 'InProgress') throw new PeatError('CONFLICT', 'cell phase cannot be entered while bootstrap is in progress');
}
