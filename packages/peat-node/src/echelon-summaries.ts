// SPDX-License-Identifier: Apache-2.0
// What a leader computes for its echelon each summary window (spec §5): its cell's squad summary with the
// capabilities its members compose, and the leader of a group chosen from the group's summaries.
import { isEcpsError } from '@ecps/core';
import type { NodeConfig } from '@ecps/peat';
import { compose, composedCapabilities } from '@ecps/peat-compose';
import { squadSummary } from '@ecps/peat-hierarchy';
import type { SquadSource, SquadSummary } from '@ecps/peat-hierarchy';
import type { AnySummary } from './summary-link';

/** A leader among the summaries of a group: the best quantized readiness, then the greatest leader id. */
export function pickLeader(summaries: readonly AnySummary[]): string | null {
  let best: { q: number; id: string } | null = null;
  for (const s of summaries) {
    const q = Math.round(s.readiness_score * 10_000);
    if (s.leader_id && (!best || q > best.q || (q === best.q && s.leader_id > best.id))) best = { q, id: s.leader_id };
  }
  return best?.id ?? null;
}

/**
 * `summarise()`, or null when it has nothing to summarise (the summary functions' `INVALID_ARGUMENT`: no fresh,
 * operational member or child). Any other error is thrown.
 */
export function summaryOrNull<S>(summarise: () => S): S | null {
  try {
    return summarise();
  } catch (e) {
    if (isEcpsError(e, 'INVALID_ARGUMENT')) return null;
    throw e;
  }
}

/**
 * The squad summary of a cell as its leader publishes it: the members' summary plus the capabilities they compose
 * (as of the earliest registration among them), sorted by id. Null when no member is operational and fresh.
 */
export function cellSquadSummary(cellId: string, leaderId: string, members: readonly (SquadSource & { readonly config: NodeConfig })[], now: number): SquadSummary | null {
  const squad = summaryOrNull(() => squadSummary(cellId, leaderId, members, { now }));
  if (!squad) return null;
  const caps = members.flatMap((s) => s.config.capabilities);
  const since = Math.min(now, ...caps.map((c) => c.registered_at));
  const composed = composedCapabilities(compose(caps, { node_ids: members.map((s) => s.node_id), cell_id: cellId, timestamp: since, node_configs: members.map((s) => s.config) }));
  return { ...squad, aggregated_capabilities: [...squad.aggregated_capabilities, ...composed].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}
