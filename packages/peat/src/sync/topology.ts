// SPDX-License-Identifier: Apache-2.0
// Where documents go (spec §6.2 directions): Upward to the parent, Downward to the children, Lateral to cell
// mates and the leader, Broadcast to every peer. A node that has no place in a hierarchy yet (no parent, no
// children, no cell mates) sends every direction as Broadcast.
import type { Direction, TombstonePropagation } from '../policy';

/** This node's place in the hierarchy; the application (cell formation, part 2) keeps it current. */
export interface Topology {
  /** The cell leader (or zone/company leader) above this node, if any. */
  readonly parent?: string;
  readonly children?: readonly string[];
  /** Other members of this node's cell. */
  readonly cellmates?: readonly string[];
}

function unplaced(t: Topology): boolean {
  return t.parent === undefined && !t.children?.length && !t.cellmates?.length;
}

function pick(ids: readonly (string | undefined)[], connected: readonly string[]): string[] {
  const live = new Set(connected);
  return [...new Set(ids)].filter((p): p is string => p !== undefined && live.has(p));
}

/**
 * The connected peers a document with `direction` goes to. A top leader (children, no parent) sends Upward
 * documents nowhere: they have arrived.
 */
export function routeDocument(direction: Direction, topology: Topology, connected: readonly string[]): string[] {
  if (direction === 'broadcast' || unplaced(topology)) return [...connected];
  switch (direction) {
    case 'upward':
      return pick([topology.parent], connected);
    case 'broadcast-until-parent':
      return topology.parent === undefined ? [...connected] : pick([topology.parent], connected);
    case 'downward':
      return pick(topology.children ?? [], connected);
    case 'lateral':
      return pick([...(topology.cellmates ?? []), topology.parent], connected);
  }
}

/** The connected peers a tombstone goes to. */
export function routeTombstone(propagation: TombstonePropagation, topology: Topology, connected: readonly string[]): string[] {
  if (propagation === 'bidirectional' || unplaced(topology)) return [...connected];
  return propagation === 'up-only' ? pick([topology.parent], connected) : pick(topology.children ?? [], connected);
}
