// SPDX-License-Identifier: Apache-2.0
// The cell model and the CellCoordinator (spec §3.5). The coordinator is a pure function of the cell: checks in a
// fixed order, the first that applies decides. Its Failed is "not yet" until the caller's deadline passes. Human
// approval moves a cell out of AwaitingApproval and is valid from nowhere else.
import { PeatError } from '@ecps/peat';
import { aggregateCell } from '@ecps/peat-compose';
import type { AggregationMember, AggregationOptions, CellAggregation } from '@ecps/peat-compose';
import type { CellRole } from './roles';
import type { LeaderRecord } from './election';

/** The cell as the coordinator sees it. */
export interface CellState {
  readonly cell_id: string;
  readonly max_size: number;
  /** Members by id with their configuration, state and role (null until assigned). */
  readonly members: ReadonlyMap<string, AggregationMember & { readonly role: CellRole | null }>;
  readonly leader: LeaderRecord | null;
  /** Set once a human approved the formation. */
  readonly approval: { readonly approved_by: string; readonly approved_at: number } | null;
}

export interface CoordinatorOptions extends AggregationOptions {
  /** Default 3. */
  readonly minSize?: number;
  /** Default 0.7. */
  readonly minReadiness?: number;
}

export type CellStatus =
  | { readonly type: 'Forming' }
  | { readonly type: 'AwaitingApproval' }
  | { readonly type: 'Ready' }
  | { readonly type: 'Failed'; readonly reason: 'Insufficient members' | 'Missing required capabilities' | 'Insufficient readiness' };

/** The coordinator's verdict with the aggregation it was based on (absent when it stopped before aggregating). */
export interface CellAssessment {
  readonly status: CellStatus;
  readonly aggregation?: CellAggregation;
}

/**
 * (1) fewer than `minSize` members → Failed("Insufficient members"); (2) no leader → Forming; (3) a member
 * without a role → Forming; (4) a gap → Failed("Missing required capabilities"); (5) readiness below
 * `minReadiness` → Failed("Insufficient readiness"); (6) oversight required and not approved, or an autonomous
 * leader not approved → AwaitingApproval; (7) Ready.
 */
export function assessCell(cell: CellState, options: CoordinatorOptions = {}): CellAssessment {
  if (cell.members.size < (options.minSize ?? 3)) return { status: { type: 'Failed', reason: 'Insufficient members' } };
  if (!cell.leader) return { status: { type: 'Forming' } };
  for (const m of cell.members.values()) if (m.role === null) return { status: { type: 'Forming' } };
  const aggregation = aggregateCell([...cell.members.values()], options);
  if (aggregation.gaps.length > 0) return { status: { type: 'Failed', reason: 'Missing required capabilities' }, aggregation };
  if (aggregation.readiness < (options.minReadiness ?? 0.7)) return { status: { type: 'Failed', reason: 'Insufficient readiness' }, aggregation };
  if ((aggregation.oversight_required.length > 0 || cell.leader.autonomous) && !cell.approval) return { status: { type: 'AwaitingApproval' }, aggregation };
  return { status: { type: 'Ready' }, aggregation };
}

/**
 * Records a human decision on a cell AwaitingApproval. Returns the approval to store (null on reject).
 * @throws PeatError `CONFLICT` unless `status` is AwaitingApproval; `PERMISSION_DENIED` unless the human holds ApproveFormation.
 */
export function decideApproval(
  status: CellStatus,
  decision: { readonly approve: boolean; readonly by: string; readonly at: number; readonly canApproveFormation: boolean },
): { readonly approved_by: string; readonly approved_at: number } | null {
  if (status.type !== 'AwaitingApproval') throw new PeatError('CONFLICT', `formation approval is valid only from AwaitingApproval (now ${status.type})`);
  if (!decision.canApproveFormation) throw new PeatError('PERMISSION_DENIED', `${decision.by} may not approve formations`);
  return decision.approve ? { approved_by: decision.by, approved_at: decision.at } : null;
}

/** Membership rules of a cell: bounded size, and a leader that is always a member. */
export class CellMembership {
  private readonly ids = new Set<string>();
  private _leader: string | null = null;

  constructor(
    readonly cellId: string,
    readonly maxSize: number,
    readonly minSize = 2,
  ) {
    if (!(minSize > 0 && maxSize >= minSize)) throw new PeatError('INVALID_ARGUMENT', `cell sizes min ${minSize}, max ${maxSize}`);
  }

  /** Adds `id`; false if it was already a member. @throws PeatError `RESOURCE_EXHAUSTED` when the cell is full. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    if (this.isFull) throw new PeatError('RESOURCE_EXHAUSTED', `cell ${this.cellId} is full (${this.maxSize})`);
    this.ids.add(id);
    return true;
  }

  /** Removes `id`; removing the leader clears it. */
  remove(id: string): boolean {
    if (this._leader === id) this._leader = null;
    return this.ids.delete(id);
  }

  /** @throws PeatError `INVALID_ARGUMENT` when `id` is not a member. */
  setLeader(id: string | null): void {
    if (id !== null && !this.ids.has(id)) throw new PeatError('INVALID_ARGUMENT', `leader ${id} is not a member of cell ${this.cellId}`);
    this._leader = id;
  }

  get leader(): string | null {
    return this._leader;
  }
  get members(): string[] {
    return [...this.ids].sort();
  }
  get isFull(): boolean {
    return this.ids.size >= this.maxSize;
  }
  /** At least the minimum size. */
  get isValid(): boolean {
    return this.ids.size >= this.minSize;
  }
}
