// SPDX-License-Identifier: Apache-2.0
// Routing (spec §5.1): three last-writer-wins maps (node → cell, cell → zone, cell → leader) that merge from any
// replica in any order to the same result, and the router rules built on them.

interface Entry {
  readonly target: string | null;
  readonly timestamp: number;
  readonly writer: string;
}

/**
 * A last-writer-wins map: assignments win with a strictly newer timestamp, removals with a newer-or-equal one. At
 * equal timestamps a removal beats an assignment, and between two assignments (or two removals) the greater writer
 * id wins.
 */
export class LwwMap {
  private readonly entries = new Map<string, Entry>();

  /** Assigns `key → target`; returns whether it took effect. */
  assign(key: string, target: string, timestamp: number, writer: string): boolean {
    return this.apply(key, { target, timestamp, writer }, false);
  }

  /** Removes `key`; returns whether it took effect. */
  remove(key: string, timestamp: number, writer: string): boolean {
    return this.apply(key, { target: null, timestamp, writer }, true);
  }

  get(key: string): string | undefined {
    return this.entries.get(key)?.target ?? undefined;
  }

  /** Keys currently mapped to `target`, sorted. */
  keysFor(target: string): string[] {
    return [...this.entries].filter(([, e]) => e.target === target).map(([k]) => k).sort();
  }

  /** Merges another replica's map into this one (commutative, idempotent). */
  merge(other: LwwMap): void {
    for (const [k, e] of other.entries) this.apply(k, e, e.target === null);
  }

  private apply(key: string, e: Entry, removal: boolean): boolean {
    const old = this.entries.get(key);
    if (old) {
      if (e.timestamp < old.timestamp) return false;
      if (e.timestamp === old.timestamp) {
        // at equal timestamps a removal beats an assignment; between two of a kind the greater writer id wins
        // (one rule whatever the arrival order, so replicas converge)
        const oldRemoval = old.target === null;
        if (oldRemoval && !removal) return false;
        if (oldRemoval === removal && !(e.writer > old.writer)) return false;
      }
    }
    this.entries.set(key, e);
    return true;
  }
}

/** The routing table of a zone. */
export class RoutingTable {
  readonly nodeCell = new LwwMap();
  readonly cellZone = new LwwMap();
  readonly cellLeader = new LwwMap();

  merge(other: RoutingTable): void {
    this.nodeCell.merge(other.nodeCell);
    this.cellZone.merge(other.cellZone);
    this.cellLeader.merge(other.cellLeader);
  }

  /**
   * Whether `source` may send to `target`: the source must be in a cell; node → node only within one cell; a cell
   * id or `zone:<id>` only from that cell's leader (for a zone, a leader of a cell in that zone).
   */
  allows(source: string, target: string): boolean {
    const cell = this.nodeCell.get(source);
    if (cell === undefined) return false;
    const isLeader = this.cellLeader.get(cell) === source;
    if (target.startsWith('zone:')) return isLeader && this.cellZone.get(cell) === target.slice(5);
    if (this.cellLeader.get(target) !== undefined || this.cellZone.get(target) !== undefined) return isLeader && target === cell;
    return this.nodeCell.get(target) === cell;
  }

  /** Valid targets of `source`: its cell peers, plus `zone:<zone_id>` for a leader. */
  targets(source: string): string[] {
    const cell = this.nodeCell.get(source);
    if (cell === undefined) return [];
    const out = this.nodeCell.keysFor(cell).filter((n) => n !== source);
    const zone = this.cellZone.get(cell);
    if (this.cellLeader.get(cell) === source && zone !== undefined) out.push(`zone:${zone}`);
    return out;
  }
}
