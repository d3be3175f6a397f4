// SPDX-License-Identifier: Apache-2.0
// Role assignment (spec §3.3): each role has required and preferred capability types and preferred operator
// specialities (MOS). Fitness weighs them with health; the leader takes Leader, everyone else their best
// specialist role, and only a node fit for no specialist role falls back to Support or Follower (a plain argmax
// would hand Follower to any healthy node).
import { CapabilityType as T, healthScore } from '@ecps/peat';
import type { NodeConfig, NodeState } from '@ecps/peat';

export type CellRole = 'Leader' | 'Sensor' | 'Compute' | 'Relay' | 'Strike' | 'Support' | 'Follower';

interface RoleSpec {
  readonly required: readonly number[];
  readonly preferred: readonly number[];
  readonly mos: readonly string[];
}

/** The eligibility table. */
export const ROLE_TABLE: Readonly<Record<CellRole, RoleSpec>> = {
  Leader: { required: [T.COMMUNICATION], preferred: [T.COMPUTE, T.SENSOR], mos: ['11B', '11C', '19D'] },
  Sensor: { required: [T.SENSOR], preferred: [T.COMMUNICATION], mos: ['19D', '35M', '35N'] },
  Compute: { required: [T.COMPUTE], preferred: [T.COMMUNICATION], mos: ['35F', '35N', '17C'] },
  Relay: { required: [T.COMMUNICATION], preferred: [T.SENSOR], mos: ['25U', '25B', '25Q'] },
  Strike: { required: [T.PAYLOAD], preferred: [T.SENSOR, T.COMPUTE], mos: ['11B', '11C', '19K'] },
  Support: { required: [], preferred: [T.MOBILITY], mos: ['68W', '88M', '91B'] },
  Follower: { required: [], preferred: [], mos: [] },
};

const SPECIALIST: readonly CellRole[] = ['Sensor', 'Compute', 'Relay', 'Strike'];

type RoleCandidate = { readonly config: Pick<NodeConfig, 'capabilities' | 'operator_binding'>; readonly state: Pick<NodeState, 'health'> };

function bestOf(config: RoleCandidate['config'], type: number): number | undefined {
  let b: number | undefined;
  for (const c of config.capabilities) if (c.capability_type === type && (b === undefined || c.confidence > b)) b = c.confidence;
  return b;
}

/**
 * Fitness of a node for `role`, in [0, 1]; 0 when a required type is missing. `0.3·req + 0.2·pref + 0.3·mos +
 * 0.2·health`, the MOS term only with a bound operator (otherwise the rest is divided by 0.7).
 */
export function roleFitness(node: RoleCandidate, role: CellRole): number {
  const spec = ROLE_TABLE[role];
  const req: number[] = [];
  for (const t of spec.required) {
    const b = bestOf(node.config, t);
    if (b === undefined) return 0;
    req.push(b);
  }
  const reqScore = req.length ? req.reduce((s, x) => s + x, 0) / req.length : 1;
  const present = spec.preferred.map((t) => bestOf(node.config, t)).filter((x): x is number => x !== undefined);
  const pref = spec.preferred.length === 0 ? 1 : present.length === 0 ? 0.5 : present.reduce((s, x) => s + x, 0) / present.length;
  const health = healthScore(node.state.health);
  const operators = node.config.operator_binding?.operators ?? [];
  let fitness: number;
  if (operators.length > 0) {
    const mos = spec.mos.length === 0 ? 0.5 : operators.some((o) => spec.mos.includes(o.mos.toUpperCase())) ? 0.9 : 0.3;
    fitness = 0.3 * reqScore + 0.2 * pref + 0.3 * mos + 0.2 * health;
  } else {
    fitness = (0.3 * reqScore + 0.2 * pref + 0.2 * health) / 0.7;
  }
  return Math.min(1, Math.max(0, fitness));
}

export interface RoleChoice {
  readonly role: CellRole;
  readonly score: number;
}

/**
 * The role for one node: Leader for the elected leader; else the best eligible specialist role (ties in the order
 * Sensor, Compute, Relay, Strike); else Support with MOBILITY, else Follower.
 */
export function chooseRole(node: RoleCandidate, isLeader: boolean): RoleChoice {
  if (isLeader) return { role: 'Leader', score: roleFitness(node, 'Leader') };
  let best: RoleChoice | undefined;
  for (const role of SPECIALIST) {
    const score = roleFitness(node, role);
    if (score > 0 && (!best || score > best.score)) best = { role, score };
  }
  if (best) return best;
  if (bestOf(node.config, T.MOBILITY) !== undefined) return { role: 'Support', score: roleFitness(node, 'Support') };
  return { role: 'Follower', score: roleFitness(node, 'Follower') };
}

/** Roles for every member (by node id), the leader first. */
export function assignRoles(members: ReadonlyMap<string, RoleCandidate>, leaderId: string | null): Map<string, RoleChoice> {
  const out = new Map<string, RoleChoice>();
  for (const [id, node] of [...members].sort((a, b) => (a[0] === leaderId ? -1 : b[0] === leaderId ? 1 : a[0] < b[0] ? -1 : 1))) {
    out.set(id, chooseRole(node, id === leaderId));
  }
  return out;
}
