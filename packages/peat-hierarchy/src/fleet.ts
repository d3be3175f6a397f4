// SPDX-License-Identifier: Apache-2.0
// The simulated fleet shared by the in-memory simulation (replication-sim.ts) and the multi-process MQTT benchmark:
// a company of platoons of 3 squads of 8 (the last squad and platoon may be short), each node's place (discovery
// scopes, topology, the peers it should find) and the workload of one round (states, squad and platoon summaries).
import { isEcpsError } from '@ecps/core';
import { CapabilityType as T, Health } from '@ecps/peat';
import type { DocValue, NodeState, PeatReplica, Topology } from '@ecps/peat';
import { platoonSummary, squadSummary } from './summary';
import type { SquadSource, SquadSummary } from './summary';

/** Members per squad and squads per platoon of the simulated fleet. */
export const SIM_SQUAD_SIZE = 8;
export const SIM_SQUADS_PER_PLATOON = 3;

/** One node of the fleet. Member 0 of a squad leads it; the leader of a platoon's first squad leads the platoon. */
export interface FleetPlace {
  /** `p<platoon>s<squad in platoon>m<member>`. */
  readonly id: string;
  readonly squad: number;
  readonly platoon: number;
  readonly leadsSquad: boolean;
  readonly leadsPlatoon: boolean;
  readonly leadsCompany: boolean;
  /** Discovery scopes: the squad; the platoon for squad leaders; the company for platoon leaders. None when flat. */
  readonly scopes: readonly string[];
  /** Where documents go; empty (broadcast everything) when flat. */
  readonly topology: Topology;
  /** How many peers it finds once discovery is done. */
  readonly expectedPeers: number;
}

export interface FleetPlan {
  readonly places: readonly FleetPlace[];
  readonly byId: ReadonlyMap<string, FleetPlace>;
  readonly squads: number;
  readonly platoons: number;
  readonly squadLeader: (squad: number) => string;
  readonly platoonLeader: (platoon: number) => string;
  readonly company: string;
}

/**
 * The fleet of `nodes`, hierarchical (scoped discovery and a topology) or flat (full replication: everyone finds
 * everyone and broadcasts everything).
 */
export function planFleet(nodes: number, hierarchical: boolean): FleetPlan {
  const ids: { id: string; squad: number; platoon: number }[] = [];
  for (let i = 0; i < nodes; i++) {
    const squad = Math.floor(i / SIM_SQUAD_SIZE);
    const platoon = Math.floor(squad / SIM_SQUADS_PER_PLATOON);
    ids.push({ id: `p${platoon}s${squad % SIM_SQUADS_PER_PLATOON}m${i % SIM_SQUAD_SIZE}`, squad, platoon });
  }
  const squads = ids.length ? ids[ids.length - 1]!.squad + 1 : 0;
  const platoons = ids.length ? ids[ids.length - 1]!.platoon + 1 : 0;
  const squadLeader = (sq: number) => ids[sq * SIM_SQUAD_SIZE]!.id;
  const platoonLeader = (p: number) => squadLeader(p * SIM_SQUADS_PER_PLATOON);
  const company = ids.length ? platoonLeader(0) : '';
  const base = ids.map((f) => {
    const leadsSquad = f.id === squadLeader(f.squad);
    const leadsPlatoon = f.id === platoonLeader(f.platoon);
    const scopes = hierarchical ? [`sq${f.squad}`, ...(leadsSquad ? [`pl${f.platoon}`] : []), ...(leadsPlatoon ? ['co'] : [])] : [];
    let topology: Topology = {};
    if (hierarchical && !leadsSquad) topology = { parent: squadLeader(f.squad) };
    else if (hierarchical) {
      const children = ids.filter((x) => x.squad === f.squad && x.id !== f.id).map((x) => x.id);
      if (leadsPlatoon) for (let sq = f.squad + 1; sq < Math.min(squads, (f.platoon + 1) * SIM_SQUADS_PER_PLATOON); sq++) children.push(squadLeader(sq));
      if (f.id === company) for (let p = 1; p < platoons; p++) children.push(platoonLeader(p));
      const parent = f.id === company ? undefined : leadsPlatoon ? company : platoonLeader(f.platoon);
      topology = { children, ...(parent ? { parent } : {}) };
    }
    return { ...f, leadsSquad, leadsPlatoon, leadsCompany: f.id === company, scopes, topology };
  });
  // peers found: everyone, or whoever shares a scope
  const inScope = new Map<string, string[]>();
  for (const p of base) for (const s of p.scopes) inScope.set(s, [...(inScope.get(s) ?? []), p.id]);
  const places = base.map((p) => ({
    ...p,
    expectedPeers: hierarchical ? new Set(p.scopes.flatMap((s) => inScope.get(s)!)).size - 1 : nodes - 1,
  }));
  return { places, byId: new Map(places.map((p) => [p.id, p])), squads, platoons, squadLeader, platoonLeader, company };
}

/** Round `round`'s state of `place`, stamped `now` (ms). */
export async function writeNodeState(replica: PeatReplica, place: FleetPlace, round: number, now: number): Promise<void> {
  const state: NodeState = {
    position: { latitude: 34 + place.squad * 0.01 + (place.id.charCodeAt(place.id.length - 1) - 48) * 1e-5, longitude: -117, altitude: 0 },
    fuel_minutes: 120 - round,
    health: Health.NOMINAL,
    phase: 3,
    cell_id: `sq${place.squad}`,
    zone_id: `pl${place.platoon}`,
    timestamp: now,
  };
  await replica.put('node_states', place.id, state as unknown as DocValue);
}

/** Runs `write`; false when its summary had no fresh, operational source (a leader that heard from nobody in time). */
async function unlessNothingFresh(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (e) {
    if (isEcpsError(e, 'INVALID_ARGUMENT')) return false;
    throw e;
  }
}

/**
 * A squad leader summarises the member states it holds into `squad_summaries:sq<n>`, aggregated at `now`. Resolves
 * false, writing nothing, when none of them is fresh and operational.
 */
export async function writeSquadSummary(replica: PeatReplica, plan: FleetPlan, squad: number, now: number): Promise<boolean> {
  const sources: SquadSource[] = [];
  for (const id of await replica.list('node_states')) {
    if (plan.byId.get(id)?.squad !== squad) continue;
    const state = (await replica.get('node_states', id)) as unknown as NodeState;
    sources.push({ node_id: id, state, config: { capabilities: [{ id: `${id}-radio`, name: 'radio', capability_type: T.COMMUNICATION, confidence: 0.9, metadata: {}, registered_at: 0 }], operator_binding: null } });
  }
  return unlessNothingFresh(() => replica.put('squad_summaries', `sq${squad}`, squadSummary(`sq${squad}`, replica.nodeId, sources, { now }) as unknown as DocValue));
}

/** A platoon leader rolls the squad summaries of its platoon it holds into `platoon_summaries:pl<n>`; false as above. */
export async function writePlatoonSummary(replica: PeatReplica, platoon: number, now: number): Promise<boolean> {
  const children: SquadSummary[] = [];
  for (const id of await replica.list('squad_summaries')) {
    if (Math.floor(Number(id.slice(2)) / SIM_SQUADS_PER_PLATOON) === platoon) children.push((await replica.get('squad_summaries', id)) as unknown as SquadSummary);
  }
  return unlessNothingFresh(() => replica.put('platoon_summaries', `pl${platoon}`, platoonSummary(`pl${platoon}`, replica.nodeId, children, { now }) as unknown as DocValue));
}

/** Which hop a received document measures, at the node that received it: a member's state at its squad leader, etc. */
export function echelonHop(place: FleetPlace, plan: FleetPlan, collection: string, id: string): 'nodeToSquad' | 'squadToPlatoon' | 'platoonToCompany' | undefined {
  if (collection === 'node_states' && place.leadsSquad && plan.byId.get(id)?.squad === place.squad) return 'nodeToSquad';
  if (collection === 'squad_summaries' && place.leadsPlatoon && Math.floor(Number(id.slice(2)) / SIM_SQUADS_PER_PLATOON) === place.platoon) return 'squadToPlatoon';
  if (collection === 'platoon_summaries' && place.leadsCompany) return 'platoonToCompany';
  return undefined;
}

/** The write time a document of `collection` carries (ms). */
export function writtenAt(collection: string, value: Record<string, unknown>): number {
  return (collection === 'node_states' ? value['timestamp'] : value['aggregated_at']) as number;
}
