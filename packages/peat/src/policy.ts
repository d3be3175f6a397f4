// SPDX-License-Identifier: Apache-2.0
// The collection table (spec §6.2): how each collection syncs (mode), where it goes (direction), how it is
// deleted, and who may write it. Unknown collections get the default row.

/** LatestOnly sends snapshots; FullHistory syncs deltas; WindowedHistory is FullHistory with owner-side trimming. */
export type SyncMode = 'latest-only' | 'full-history' | 'windowed-history';

/**
 * Where a document goes. `broadcast-until-parent` (beacons) is Broadcast while the node has no parent and
 * Upward afterwards. With no parent, every direction is Broadcast.
 */
export type Direction = 'upward' | 'downward' | 'lateral' | 'broadcast' | 'broadcast-until-parent';

/** Where a tombstone may travel. */
export type TombstonePropagation = 'up-only' | 'down-only' | 'bidirectional';

/**
 * `tombstone`: deleted through a side-table tombstone, kept `ttlMs`; `resolution` says what beats what.
 * `implicit-ttl`: the document expires `ttlMs` after its `_created_at`. `soft`: `_deleted: true` hides it.
 */
export type DeletionPolicy =
  | { readonly kind: 'tombstone'; readonly ttlMs: number; readonly resolution: 'delete-wins' | 'update-wins' }
  | { readonly kind: 'implicit-ttl'; readonly ttlMs: number }
  | { readonly kind: 'soft' };

/** Who may write a document of the collection (checked with RBAC, §8.3). */
export type WriterRule = 'owner' | 'members' | 'echelon-leader' | 'producer' | 'any' | 'originator' | 'issuer' | 'node';

export interface CollectionPolicy {
  readonly mode: SyncMode;
  /** For `windowed-history`: entries older than this are trimmed by the owner. */
  readonly windowMs?: number;
  readonly direction: Direction;
  readonly deletion: DeletionPolicy;
  readonly writer: WriterRule;
  readonly tombstonePropagation: TombstonePropagation;
  /**
   * Root fields that are add-wins OR-sets (maps keyed by id). Every replica creates them in one identical genesis
   * change, so two nodes that create the same document independently still share one map per set.
   */
  readonly sets?: readonly string[];
  /**
   * Whether a change learned from one peer is forwarded along the direction. Default true. False where one hop
   * is the whole journey: members' `node_states` end at their leader, and each echelon's summary at the echelon
   * above, which summarises it again rather than passing it on.
   */
  readonly relay?: boolean;
}

const HOUR = 3_600_000;

function row(
  mode: SyncMode,
  direction: Direction,
  deletion: DeletionPolicy,
  writer: WriterRule,
  tombstonePropagation: TombstonePropagation = 'bidirectional',
  windowMs?: number,
): CollectionPolicy {
  return windowMs === undefined
    ? { mode, direction, deletion, writer, tombstonePropagation }
    : { mode, direction, deletion, writer, tombstonePropagation, windowMs };
}

const soft = { kind: 'soft' } as const;

/** The built-in table. */
export const COLLECTION_POLICIES: Readonly<Record<string, CollectionPolicy>> = {
  beacons: row('latest-only', 'broadcast-until-parent', { kind: 'implicit-ttl', ttlMs: HOUR }, 'owner'),
  platforms: row('latest-only', 'upward', { kind: 'implicit-ttl', ttlMs: HOUR }, 'owner'),
  nodes: row('latest-only', 'upward', { kind: 'tombstone', ttlMs: 24 * HOUR, resolution: 'delete-wins' }, 'owner'),
  node_configs: row('latest-only', 'upward', soft, 'owner'),
  node_states: { ...row('latest-only', 'upward', soft, 'owner'), relay: false },
  cells: { ...row('latest-only', 'lateral', { kind: 'tombstone', ttlMs: 24 * HOUR, resolution: 'delete-wins' }, 'members', 'up-only'), sets: ['members', 'capabilities'] },
  // zones and companies: the cell document one echelon up (our names; the specification leaves them open)
  zones: { ...row('latest-only', 'lateral', { kind: 'tombstone', ttlMs: 24 * HOUR, resolution: 'delete-wins' }, 'members', 'up-only'), sets: ['members'] },
  companies: { ...row('latest-only', 'lateral', { kind: 'tombstone', ttlMs: 24 * HOUR, resolution: 'delete-wins' }, 'members', 'up-only'), sets: ['members'] },
  squad_summaries: { ...row('latest-only', 'upward', soft, 'echelon-leader'), relay: false },
  platoon_summaries: { ...row('latest-only', 'upward', soft, 'echelon-leader'), relay: false },
  company_summaries: { ...row('latest-only', 'upward', soft, 'echelon-leader'), relay: false },
  tracks: row('latest-only', 'broadcast', { kind: 'tombstone', ttlMs: HOUR, resolution: 'delete-wins' }, 'producer'),
  alerts: row('full-history', 'broadcast', { kind: 'tombstone', ttlMs: 4 * HOUR, resolution: 'update-wins' }, 'any'),
  contact_reports: row('full-history', 'broadcast', soft, 'any', 'up-only'),
  audit_logs: row('full-history', 'broadcast', soft, 'any'),
  events: row('full-history', 'broadcast', soft, 'any'),
  commands: row('full-history', 'downward', soft, 'originator', 'down-only'),
  track_history: row('windowed-history', 'upward', soft, 'owner', 'bidirectional', 300_000),
  capability_history: row('windowed-history', 'upward', soft, 'owner', 'bidirectional', 300_000),
  deployment_directives: row('full-history', 'downward', soft, 'issuer'),
  deployment_controls: row('full-history', 'downward', soft, 'issuer'),
  deployment_status: row('latest-only', 'upward', soft, 'node'),
};

/** Anything not in the table. */
export const DEFAULT_POLICY: CollectionPolicy = row('full-history', 'broadcast', soft, 'any');

/** The policy of `collection`, from `overrides` first, then the built-in table, then the default row. */
export function policyFor(collection: string, overrides?: Readonly<Record<string, CollectionPolicy>>): CollectionPolicy {
  return overrides?.[collection] ?? COLLECTION_POLICIES[collection] ?? DEFAULT_POLICY;
}

/** True when only one node writes documents of this collection (they may be rebased and snapshot-signed). */
export function isSingleWriter(policy: CollectionPolicy): boolean {
  return policy.writer === 'owner' || policy.writer === 'producer' || policy.writer === 'echelon-leader' || policy.writer === 'node';
}
