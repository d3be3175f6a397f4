// SPDX-License-Identifier: Apache-2.0
// Router settings and their SW4RM environment variables (spec §1.2, §4).
import { ValidationError } from '@ecps/core';

/** Router settings; every field has the spec default. */
export interface RouterConfig {
  /** Store directory (LevelDB). Default `./sw4rm-router.sqlite3` (the reference's file name, kept for tooling). */
  dbPath: string;
  /** NACK producer id. Default `router`. */
  routerId: string;
  leaseMs: number;
  sweepIntervalMs: number;
  /** Per-recipient queue capacity (rows). Default 100. */
  maxQueue: number;
  /**
   * How long a send to a full queue is held for a row to free before it is answered `buffer_full` (as a reliable DDS
   * writer's `max_blocking_time`). 0 answers at once. Default 100 ms.
   */
  fullWaitMs: number;
  /** Sends held at once at most; past it a send to a full queue is answered at once. Default 1024. */
  maxHeldSends: number;
  /** Envelope bytes held at once at most. Default 64 MiB. */
  maxHeldBytes: number;
  ackMode: 'forward' | 'swallow';
  nackOnFull: boolean;
  /** 0 disables dedup. Default 3 600 000. */
  dedupWindowMs: number;
  /** 0 = unlimited. */
  maxDeliveryAttempts: number;
  /** Agents whose rows are released right after the write (`*` = all). */
  autoReleaseAgents: readonly string[];
  maxPayloadBytes: number;
  drainGraceMs: number;
  /** Rows of one agent in flight (yielded, not yet acked) at once; more wait. Default 32. */
  maxInFlight: number;
  /** An agent without an open stream for this long is forgotten (rows NACKed, no longer a target). Default 1 day. */
  agentRetentionMs: number;
  /** Known agents at most; a new agent's stream beyond it is refused RESOURCE_EXHAUSTED. Default 10 000. */
  maxKnownAgents: number;
  /** Recipients of one SendMessage at most; a larger broadcast is refused `overloaded`. Default 1000. */
  maxFanout: number;
  /** Dedup records at most (oldest dropped first). Default 1 000 000. */
  maxDedupRecords: number;
}

/** The spec defaults. */
export const DEFAULT_ROUTER_CONFIG: RouterConfig = {
  dbPath: './sw4rm-router.sqlite3',
  routerId: 'router',
  leaseMs: 30_000,
  sweepIntervalMs: 1000,
  maxQueue: 100,
  fullWaitMs: 100,
  maxHeldSends: 1024,
  maxHeldBytes: 64 * 1024 * 1024,
  ackMode: 'forward',
  nackOnFull: true,
  dedupWindowMs: 3_600_000,
  maxDeliveryAttempts: 0,
  autoReleaseAgents: [],
  maxPayloadBytes: 4_000_000,
  drainGraceMs: 5000,
  maxInFlight: 32,
  agentRetentionMs: 86_400_000,
  maxKnownAgents: 10_000,
  maxFanout: 1000,
  maxDedupRecords: 1_000_000,
};

function num(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new ValidationError('CONFIG_INVALID', `${name}=${raw} is not a non-negative number`);
  return v;
}

type NumericField = { [K in keyof RouterConfig]: RouterConfig[K] extends number ? K : never }[keyof RouterConfig];

/** The numeric variables: which field each sets, and what one unit of it is in that field's unit. */
const NUMERIC_VARIABLES: readonly [name: string, field: NumericField, scale: number][] = [
  ['SW4RM_DELIVERY_LEASE_SECONDS', 'leaseMs', 1000],
  ['SW4RM_ROUTER_MAX_QUEUE', 'maxQueue', 1],
  ['SW4RM_ROUTER_FULL_WAIT_MS', 'fullWaitMs', 1],
  ['SW4RM_ROUTER_MAX_HELD_SENDS', 'maxHeldSends', 1],
  ['SW4RM_ROUTER_MAX_HELD_BYTES', 'maxHeldBytes', 1],
  ['SW4RM_DEDUP_WINDOW_SECONDS', 'dedupWindowMs', 1000],
  ['SW4RM_DELIVERY_MAX_ATTEMPTS', 'maxDeliveryAttempts', 1],
  ['SW4RM_MAX_PAYLOAD_BYTES', 'maxPayloadBytes', 1],
  ['SW4RM_ROUTER_DRAIN_SECONDS', 'drainGraceMs', 1000],
  ['SW4RM_ROUTER_MAX_IN_FLIGHT', 'maxInFlight', 1],
  ['SW4RM_ROUTER_AGENT_RETENTION_SECONDS', 'agentRetentionMs', 1000],
  ['SW4RM_ROUTER_MAX_AGENTS', 'maxKnownAgents', 1],
  ['SW4RM_ROUTER_MAX_FANOUT', 'maxFanout', 1],
  ['SW4RM_ROUTER_MAX_DEDUP_RECORDS', 'maxDedupRecords', 1],
];

/**
 * Reads `SW4RM_*` router variables over the defaults.
 * @throws ValidationError CONFIG_INVALID for malformed values.
 */
export function routerConfigFromEnv(env: Record<string, string | undefined> = process.env): Partial<RouterConfig> {
  const out: Partial<RouterConfig> = {};
  if (env['SW4RM_ROUTER_DB']) out.dbPath = env['SW4RM_ROUTER_DB'];
  if (env['SW4RM_ROUTER_ID']) out.routerId = env['SW4RM_ROUTER_ID'];
  for (const [name, field, scale] of NUMERIC_VARIABLES) {
    const value = num(env, name);
    if (value !== undefined) out[field] = value * scale;
  }
  const mode = env['SW4RM_ROUTER_ACK_MODE'];
  if (mode) {
    if (mode !== 'forward' && mode !== 'swallow') throw new ValidationError('CONFIG_INVALID', `SW4RM_ROUTER_ACK_MODE=${mode} (forward|swallow)`);
    out.ackMode = mode;
  }
  const nack = env['SW4RM_ROUTER_NACK_ON_FULL'];
  if (nack) out.nackOnFull = !/^(0|false|off|no)$/i.test(nack);
  const release = env['SW4RM_DELIVERY_AUTO_RELEASE_AGENTS'];
  if (release) out.autoReleaseAgents = release.split(',').map((s) => s.trim()).filter(Boolean);
  return out;
}
