// SPDX-License-Identifier: Apache-2.0
// Which agent takes which slot: the assignment minimising total travel distance (Hungarian algorithm).
import { EcpsError } from '@ecps/core';
import { distance, formationSlots } from './formations';
import type { FormationOptions, FormationShape, Vec3 } from './formations';
import { hungarian } from './hungarian';

export interface AgentPosition {
  readonly id: string;
  readonly position: Vec3;
}

export interface SlotAssignment {
  /** Agent id -> its slot position. */
  readonly targets: ReadonlyMap<string, Vec3>;
  /** Agent id -> slot index in the formation. */
  readonly slots: ReadonlyMap<string, number>;
  /** Sum of straight-line distances to travel. */
  readonly totalDistance: number;
}

/**
 * Assigns agents to `slots` minimising the total distance. Deterministic: agents are ordered by id first, so the
 * same inputs give the same answer on every robot.
 * @throws EcpsError `INVALID_ARGUMENT` when there are more agents than slots or duplicate agent ids.
 */
export function assignSlots(agents: readonly AgentPosition[], slots: readonly Vec3[]): SlotAssignment {
  const sorted = [...agents].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (new Set(sorted.map((a) => a.id)).size !== sorted.length) throw new EcpsError('INVALID_ARGUMENT', 'duplicate agent ids');
  if (sorted.length > slots.length) {
    throw new EcpsError('INVALID_ARGUMENT', `${sorted.length} agents for ${slots.length} slots`);
  }
  const cost = sorted.map((a) => slots.map((s) => distance(a.position, s)));
  const assignment = hungarian(cost);
  const targets = new Map<string, Vec3>();
  const slotOf = new Map<string, number>();
  let total = 0;
  sorted.forEach((a, i) => {
    const j = assignment[i] as number;
    targets.set(a.id, slots[j] as Vec3);
    slotOf.set(a.id, j);
    total += (cost[i] as number[])[j] as number;
  });
  return { targets, slots: slotOf, totalDistance: total };
}

/** Slots of `shape` for exactly these agents, and who goes where (a formation change is just a new plan). */
export function planFormation(agents: readonly AgentPosition[], shape: FormationShape, options: FormationOptions = {}): SlotAssignment {
  return assignSlots(agents, formationSlots(shape, agents.length, options));
}
