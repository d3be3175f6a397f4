// SPDX-License-Identifier: Apache-2.0
// Zones (spec §5.1): a zone of cells is Ready with enough cells, a coordinator and well-filled cells; its
// capabilities are the best of each type plus three fixed emergent patterns. The HierarchyMaintainer decides when
// a cell must merge or split and builds the resulting cells (new ids, leaders cleared).
import { randomUUID } from 'node:crypto';
import { CapabilityType as T, PeatError } from '@ecps/peat';
import type { Capability } from '@ecps/peat';

export interface ZoneCell {
  readonly cell_id: string;
  readonly members: readonly string[];
  readonly max_size: number;
  readonly capabilities: readonly Capability[];
  readonly leader: string | null;
  readonly platoon_id: string | null;
  /** Unix ms of the last change. */
  readonly timestamp: number;
}

export type ZoneStatus = 'Forming' | 'Ready' | 'Degraded';

export interface ZoneOptions {
  /** Default 2. */
  readonly minCells?: number;
  /** Default 0.5. */
  readonly minReadiness?: number;
}

/** Tracks one zone's status; operations are allowed once Ready and 5 s after it formed. */
export class ZoneCoordinator {
  private _status: ZoneStatus = 'Forming';
  private formedAt: number | null = null;

  constructor(private readonly options: ZoneOptions = {}) {}

  get status(): ZoneStatus {
    return this._status;
  }

  /** Re-evaluates: Ready with ≥ min cells, a coordinator and mean fill ≥ min readiness; a Ready zone below min cells is Degraded. */
  update(cells: readonly ZoneCell[], coordinator: string | null, now: number): ZoneStatus {
    const minCells = this.options.minCells ?? 2;
    const fill = cells.length ? cells.reduce((s, c) => s + c.members.length / c.max_size, 0) / cells.length : 0;
    const ready = cells.length >= minCells && coordinator !== null && fill >= (this.options.minReadiness ?? 0.5);
    if (ready) {
      if (this._status !== 'Ready') this.formedAt = now;
      this._status = 'Ready';
    } else if ((this._status === 'Ready' || this._status === 'Degraded') && cells.length < minCells) this._status = 'Degraded';
    else if (this._status === 'Ready') this._status = 'Forming';
    return this._status;
  }

  canOperate(now: number): boolean {
    return this._status === 'Ready' && this.formedAt !== null && now - this.formedAt >= 5_000;
  }
}

const PATTERNS: readonly { name: string; needs: readonly number[]; minCells: number; confidence: number }[] = [
  { name: 'Enhanced ISR Capability', needs: [T.SENSOR, T.COMPUTE], minCells: 2, confidence: 0.85 },
  { name: 'Mobile Relay Network', needs: [T.COMMUNICATION, T.MOBILITY], minCells: 3, confidence: 0.8 },
  { name: 'Coordinated Strike Package', needs: [T.SENSOR, T.PAYLOAD], minCells: 2, confidence: 0.75 },
];

/** The zone's capabilities: the highest-confidence capability of each type, then the emergent patterns that apply. */
export function zoneCapabilities(zoneId: string, cells: readonly ZoneCell[], now: number): Capability[] {
  const best = new Map<number, Capability>();
  for (const c of cells) for (const cap of c.capabilities) if ((best.get(cap.capability_type)?.confidence ?? -1) < cap.confidence) best.set(cap.capability_type, cap);
  const out = [...best.values()].sort((a, b) => a.capability_type - b.capability_type);
  for (const p of PATTERNS) {
    if (cells.length < p.minCells || !p.needs.every((t) => best.has(t))) continue;
    out.push({ id: `${zoneId}_${p.name.replace(/ /g, '_')}`, name: p.name, capability_type: T.EMERGENT, confidence: p.confidence, metadata: { pattern: p.name, cells: cells.length }, registered_at: now });
  }
  return out;
}

export type RebalanceAction = 'Merge' | 'Split' | 'None';

/** Keeps cells between their size bounds by merging small ones and splitting large ones. */
export class HierarchyMaintainer {
  readonly metrics = { merges: 0, splits: 0, disruptions: 0 };

  /** @throws PeatError `INVALID_ARGUMENT` unless both minimums are > 0 and each maximum exceeds its minimum. */
  constructor(
    readonly minCellSize: number,
    readonly maxCellSize: number,
    readonly minZoneCells: number,
    readonly maxZoneCells: number,
    private readonly newId: () => string = randomUUID,
  ) {
    if (!(minCellSize > 0 && maxCellSize > minCellSize)) throw new PeatError('INVALID_ARGUMENT', `cell bounds (${minCellSize}, ${maxCellSize})`);
    if (!(minZoneCells > 0 && maxZoneCells > minZoneCells)) throw new PeatError('INVALID_ARGUMENT', `zone bounds (${minZoneCells}, ${maxZoneCells})`);
  }

  needsRebalance(cell: Pick<ZoneCell, 'members'>): RebalanceAction {
    if (cell.members.length < this.minCellSize) return 'Merge';
    if (cell.members.length > this.maxCellSize) return 'Split';
    return 'None';
  }

  /** The best-fit partner for `small`: the fullest other cell that still has room for all its members. */
  mergeCandidate(small: ZoneCell, cells: readonly ZoneCell[]): ZoneCell | undefined {
    return cells
      .filter((c) => c.cell_id !== small.cell_id && c.members.length + small.members.length <= Math.max(this.maxCellSize, c.max_size))
      .sort((a, b) => b.members.length - a.members.length || (a.cell_id < b.cell_id ? -1 : 1))[0];
  }

  /** A new cell: members and capabilities united, the newer timestamp, the first platoon, no leader. */
  merge(a: ZoneCell, b: ZoneCell): ZoneCell {
    this.metrics.merges++;
    this.metrics.disruptions += a.members.length + b.members.length;
    const members = [...new Set([...a.members, ...b.members])].sort();
    const caps = new Map<string, Capability>();
    for (const c of [...a.capabilities, ...b.capabilities]) if (!caps.has(c.id)) caps.set(c.id, c);
    return {
      cell_id: this.newId(),
      members,
      max_size: Math.max(this.maxCellSize, members.length),
      capabilities: [...caps.values()],
      leader: null,
      platoon_id: a.platoon_id ?? b.platoon_id,
      timestamp: Math.max(a.timestamp, b.timestamp),
    };
  }

  /** Two new cells: the first ⌊n/2⌋ members, and the rest; both keep all capabilities and have no leader. */
  split(cell: ZoneCell): [ZoneCell, ZoneCell] {
    this.metrics.splits++;
    this.metrics.disruptions += cell.members.length;
    const half = Math.floor(cell.members.length / 2);
    const make = (members: readonly string[]): ZoneCell => ({ ...cell, cell_id: this.newId(), members, leader: null, capabilities: [...cell.capabilities] });
    return [make(cell.members.slice(0, half)), make(cell.members.slice(half))];
  }
}
