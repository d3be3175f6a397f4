// SPDX-License-Identifier: Apache-2.0
// Phase 1, discovery (spec §2): nodes beacon their position; live beacons that share a precision-7 geohash form a
// cluster; a cluster of at least two is formable, and its lowest id initiates the cell with the sorted, truncated
// member list. ngeohash does the encoding (a small, long-lived implementation of the standard base-32 geohash).
import ngeohash from 'ngeohash';
import { PeatError } from '@ecps/peat';
import type { Position } from '@ecps/peat';

/** A beacon expires 30 s after its timestamp. */
export const BEACON_TTL_MS = 30_000;
/** Cells cluster at precision 7 (≈153 m); zones at 5, companies at 4. */
export const CELL_GEOHASH_PRECISION = 7;
export const ZONE_GEOHASH_PRECISION = 5;
export const COMPANY_GEOHASH_PRECISION = 4;
/** A cluster is formable from this many live beacons. */
export const MIN_SQUAD_SIZE = 2;
export const DEFAULT_CELL_SIZE = 5;

export type Mobility = 'Static' | 'SemiMobile' | 'Mobile';

/** What a node announces about itself (`beacons:<node_id>`). */
export interface Beacon {
  readonly platform_id: string;
  readonly position: { readonly lat: number; readonly lon: number; readonly alt: number };
  readonly geohash_cell: string;
  readonly operational: boolean;
  /** Unix ms. */
  readonly timestamp: number;
  /** Capability ids. */
  readonly capabilities: readonly string[];
  readonly hierarchy_level: number;
  readonly mobility: Mobility;
  readonly resources: { readonly cpu_usage_percent: number; readonly memory_usage_percent: number; readonly battery_percent: number | null };
  readonly can_parent: boolean;
  /** 0–255. */
  readonly parent_priority: number;
}

/** The geohash of a position. @throws PeatError `INVALID_ARGUMENT` for a latitude or longitude out of range or a precision outside 1..12. */
export function geohashOf(position: Pick<Position, 'latitude' | 'longitude'>, precision = CELL_GEOHASH_PRECISION): string {
  const { latitude, longitude } = position;
  if (!(latitude >= -90 && latitude <= 90 && longitude >= -180 && longitude <= 180)) {
    throw new PeatError('INVALID_ARGUMENT', `position (${latitude}, ${longitude}) is out of range`);
  }
  if (!(Number.isInteger(precision) && precision >= 1 && precision <= 12)) throw new PeatError('INVALID_ARGUMENT', `geohash precision ${precision}`);
  return ngeohash.encode(latitude, longitude, precision);
}

/** Expired when `now − timestamp > ttl`. */
export function isBeaconExpired(beacon: Pick<Beacon, 'timestamp'>, now: number, ttlMs = BEACON_TTL_MS): boolean {
  return now - beacon.timestamp > ttlMs;
}

/** A cluster of live beacons in one geohash cell. */
export interface Cluster {
  readonly geohash: string;
  /** Every live member, sorted ascending. */
  readonly members: readonly string[];
  readonly formable: boolean;
  /** The lowest id. */
  readonly initiator: string;
  /** Members sorted ascending, truncated to `maxSize`. */
  readonly proposed: readonly string[];
}

export interface ClusterOptions {
  readonly ttlMs?: number;
  /** Default 7. */
  readonly precision?: number;
  /** Default {@link DEFAULT_CELL_SIZE}. */
  readonly maxSize?: number;
  /** Default {@link MIN_SQUAD_SIZE}. */
  readonly minSize?: number;
}

/**
 * Groups the live beacons by geohash (the first `precision` characters of `geohash_cell`). Expired beacons are left
 * out, so a cluster whose beacons all expired vanishes. Sorted by geohash.
 */
export function clusterBeacons(beacons: Iterable<Beacon>, now: number, options: ClusterOptions = {}): Cluster[] {
  const precision = options.precision ?? CELL_GEOHASH_PRECISION;
  const maxSize = options.maxSize ?? DEFAULT_CELL_SIZE;
  const minSize = options.minSize ?? MIN_SQUAD_SIZE;
  const groups = new Map<string, Set<string>>();
  for (const b of beacons) {
    if (isBeaconExpired(b, now, options.ttlMs)) continue;
    const key = b.geohash_cell.slice(0, precision);
    const g = groups.get(key) ?? new Set<string>();
    g.add(b.platform_id);
    groups.set(key, g);
  }
  return [...groups]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([geohash, ids]) => {
      const members = [...ids].sort();
      return { geohash, members, formable: members.length >= minSize, initiator: members[0]!, proposed: members.slice(0, maxSize) };
    });
}

/**
 * The beacons a node has heard, bounded: one entry per platform (the newest wins), at most `maxEntries`
 * (the oldest is evicted first), expired ones removed by {@link sweep} (the janitor, every 10 s).
 */
export class BeaconTable {
  private readonly beacons = new Map<string, Beacon>();

  constructor(private readonly maxEntries = 10_000) {}

  /** Keeps `beacon` unless an equal or newer one from the same platform is held. Returns whether it was kept. */
  upsert(beacon: Beacon): boolean {
    const old = this.beacons.get(beacon.platform_id);
    if (old && old.timestamp >= beacon.timestamp) return false;
    this.beacons.delete(beacon.platform_id);
    this.beacons.set(beacon.platform_id, beacon);
    if (this.beacons.size > this.maxEntries) {
      let oldest: Beacon | undefined;
      for (const b of this.beacons.values()) if (!oldest || b.timestamp < oldest.timestamp) oldest = b;
      this.beacons.delete(oldest!.platform_id);
    }
    return true;
  }

  /** Removes expired beacons; returns their ids. */
  sweep(now: number, ttlMs = BEACON_TTL_MS): string[] {
    const gone: string[] = [];
    for (const [id, b] of this.beacons) if (isBeaconExpired(b, now, ttlMs)) gone.push(id);
    for (const id of gone) this.beacons.delete(id);
    return gone;
  }

  get(platformId: string): Beacon | undefined {
    return this.beacons.get(platformId);
  }

  values(): IterableIterator<Beacon> {
    return this.beacons.values();
  }

  get size(): number {
    return this.beacons.size;
  }

  clusters(now: number, options?: ClusterOptions): Cluster[] {
    return clusterBeacons(this.beacons.values(), now, options);
  }
}
