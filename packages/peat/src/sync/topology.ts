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
  /**
   * Lateral peers per collection, in place of `cellmates`: a cell leader is also a member of its zone, so the
   * `zones` document goes to its zone mates while `cells` goes to its cell mates.
   */
  readonly lateral?: Readonly<Record<string, readonly string[]>>;
}

function unplaced(t: Topology): boolean {
  return t.parent === undefined && !t.children?.length && !t.cellmates?.length && !Object.values(t.lateral ?? {}).some((g) => g.length > 0);
}

function pick(ids: readonly (string | undefined)[], connected: readonly string[]): string[] {
  const live = new Set(connected);
  return [...new Set(ids)].filter((p): p is string => p !== undefined && live.has(p));
}

/**
 * The connected peers a document with `direction` goes to. A top leader (children, no parent) sends Upward
 * documents nowhere: they have arrived.
 */
export function routeDocument(direction: Direction, topology: Topology, connected: readonly string[], collection?: string): string[] {
  if (direction === 'broadcast' || unplaced(topology)) return [...connected];
  switch (direction) {
    case 'upward':
      return pick([topology.parent], connected);
    case 'broadcast-until-parent':
      return topology.parent === undefined ? [...connected] : pick([topology.parent], connected);
    case 'downward':
      return pick(topology.children ?? [], connected);
    case 'lateral': {
      const group = collection === undefined ? undefined : topology.lateral?.[collection];
      return group ? pick(group, connected) : pick([...(topology.cellmates ?? []), topology.parent], connected);
    }
  }
}

/** The connected peers a tombstone goes to. */
export function routeTombstone(propagation: TombstonePropagation, topology: Topology, connected: readonly string[]): string[] {
  if (propagation === 'bidirectional' || unplaced(topology)) return [...connected];
  return propagation === 'up-only' ? pick([topology.parent], connected) : pick(topology.children ?? [], connected);
}
