// SPDX-License-Identifier: Apache-2.0
// Directed assignment (spec §2): C2 puts named platforms in a cell. A node ignores assignments that do not list it;
// otherwise the first failing check decides, in a fixed order, and on success the node joins and marks it done.

/** Directed assignments expire after 300 s. */
export const ASSIGNMENT_TTL_MS = 300_000;

export type AssignmentPriority = 'Low' | 'Normal' | 'High' | 'Critical';
export type AssignmentStatus =
  | { readonly type: 'Pending' }
  | { readonly type: 'InProgress' }
  | { readonly type: 'Completed' }
  | { readonly type: 'Failed'; readonly reason: string };

export interface CellAssignment {
  readonly assignment_id: string;
  readonly squad_id: string;
  readonly platform_ids: readonly string[];
  readonly issued_by: string;
  /** Unix ms. */
  readonly timestamp: number;
  readonly priority: AssignmentPriority;
  readonly status: AssignmentStatus;
  readonly context?: string | null;
}

export type AssignmentRejection =
  | { readonly type: 'Invalid' }
  | { readonly type: 'Unauthorized' }
  | { readonly type: 'Expired' }
  | { readonly type: 'SquadNotFound' }
  | { readonly type: 'SquadFull' }
  | { readonly type: 'PlatformAlreadyAssigned'; readonly current_squad: string };

/** What the node knows when it checks an assignment. */
export interface AssignmentContext {
  readonly nodeId: string;
  readonly now: number;
  /** The cell's current members and capacity, or undefined if the cell is unknown. */
  readonly cell: (squadId: string) => { readonly members: readonly string[]; readonly max_size: number } | undefined;
  /** The valid cell this node is already in, if any. */
  readonly currentCell: string | null;
  /** Whether the issuer holds Commander (spec §8.3). */
  readonly issuerIsCommander: boolean;
}

export type AssignmentOutcome =
  | { readonly type: 'ignored' }
  | { readonly type: 'rejected'; readonly reason: AssignmentRejection }
  | { readonly type: 'accepted'; readonly members: readonly string[]; readonly assignment: CellAssignment };

/**
 * Checks `a` for `ctx.nodeId`: ignored unless listed; then Invalid (empty list), Unauthorized (issuer not a
 * Commander), Expired (older than 300 s), SquadNotFound, SquadFull, PlatformAlreadyAssigned, in that order. On
 * success the cell's members gain the node (sorted) and the assignment is marked Completed.
 */
export function checkAssignment(a: CellAssignment, ctx: AssignmentContext): AssignmentOutcome {
  if (a.platform_ids.length === 0) return { type: 'rejected', reason: { type: 'Invalid' } };
  if (!a.platform_ids.includes(ctx.nodeId)) return { type: 'ignored' };
  if (!ctx.issuerIsCommander) return { type: 'rejected', reason: { type: 'Unauthorized' } };
  if (ctx.now - a.timestamp > ASSIGNMENT_TTL_MS) return { type: 'rejected', reason: { type: 'Expired' } };
  const cell = ctx.cell(a.squad_id);
  if (!cell) return { type: 'rejected', reason: { type: 'SquadNotFound' } };
  const already = cell.members.includes(ctx.nodeId);
  if (!already && cell.members.length >= cell.max_size) return { type: 'rejected', reason: { type: 'SquadFull' } };
  if (ctx.currentCell !== null && ctx.currentCell !== a.squad_id) {
    return { type: 'rejected', reason: { type: 'PlatformAlreadyAssigned', current_squad: ctx.currentCell } };
  }
  const members = already ? [...cell.members] : [...cell.members, ctx.nodeId].sort();
  return { type: 'accepted', members, assignment: { ...a, status: { type: 'Completed' } } };
}
