// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T, Health, VirtualClock } from '@ecps/peat';
import type { Capability, NodeConfig, Operator } from '@ecps/peat';
import type { CoordinatorOptions } from '@ecps/peat-cell';
import { NodeOrchestrator, SimMedium } from '../src/index';

const cap = (id: string, capability_type: number, confidence: number): Capability => ({ id, name: id, capability_type, confidence, metadata: {}, registered_at: 0 });
const supervisor = (id: string): Operator => ({ id: `op-${id}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 });

interface Spec {
  readonly caps?: (id: string) => Capability[];
  readonly operator?: boolean;
  readonly coordinator?: CoordinatorOptions;
}

/** n nodes in one ≈150 m geohash cell on one virtual clock. */
function fleet(n: number, spec: Spec = {}) {
  const clock = new VirtualClock();
  const medium = new SimMedium(clock);
  let ids = 0;
  const nodes = Array.from({ length: n }, (_, i) => {
    const id = `node-${String(i).padStart(2, '0')}`;
    const config: NodeConfig = {
      id,
      platform_type: 'ugv',
      capabilities: spec.caps?.(id) ?? [cap(`${id}-radio`, T.COMMUNICATION, 0.9), cap(`${id}-eo`, T.SENSOR, 0.85)],
      comm_range_m: 1000,
      max_speed_mps: 10,
      operator_binding: spec.operator === false ? null : { operators: [supervisor(id)], platform_ids: [id], binding_type: 'direct', bound_at: 0 },
      created_at: 0,
    };
    return new NodeOrchestrator({
      config,
      position: { latitude: 34.0 + i * 0.00001, longitude: -117.0, altitude: 100 },
      clock,
      medium,
      maxCellSize: 8,
      newId: () => `cell-${++ids}`,
      ...(spec.coordinator ? { coordinator: spec.coordinator } : {}),
    });
  });
  const byId = (id: string) => nodes.find((x) => x.id === id)!;
  const run = (ms: number) => clock.advance(ms);
  const labels = (node: NodeOrchestrator) => node.transitions.map((t) => t.label);
  return { clock, medium, nodes, byId, run, labels };
}

describe('checklist 21: the node orchestrator on a virtual clock', () => {
  it('T1 → T7: four nodes discover, form one cell, elect one leader, get roles and become operational', () => {
    const f = fleet(4);
    for (const node of f.nodes) node.start();
    f.run(30_000);
    const leader = f.nodes[0]!.leader!.node_id;
    for (const node of f.nodes) {
      expect(node.state).toBe('operational');
      expect(node.cellId).toBe('cell-1');
      expect(node.leader!.node_id).toBe(leader);
      expect(f.labels(node)).toEqual(['T1', 'T2', 'T3', 'T6', 'T7']);
      expect(node.role).toBe(node.id === leader ? 'Leader' : 'Sensor'); // MOS 19D favours Sensor over Relay
    }
    // equal scores: the greatest id leads
    expect(leader).toBe('node-03');
    expect(f.byId(leader).cellStatus).toEqual({ type: 'Ready' });
  });

  it('T11: the leader is killed; after 6 s of silence the others elect a new one in a higher round and are operational again', () => {
    const f = fleet(4);
    for (const node of f.nodes) node.start();
    f.run(30_000);
    const old = f.byId('node-03');
    f.medium.disconnect(old.id);
    old.crash();
    f.run(20_000);
    const rest = f.nodes.filter((x) => x !== old);
    for (const node of rest) {
      expect(node.leader!.node_id).toBe('node-02');
      expect(node.leader!.round).toBeGreaterThanOrEqual(2);
      expect(node.state).toBe('operational');
      expect(f.labels(node)).toContain('T11');
    }
    expect(f.byId('node-02').role).toBe('Leader');
  });

  it('T12 → T13: the only sensor fails, the cell degrades; it recovers and the cell is operational again', () => {
    const f = fleet(3, { caps: (id) => (id === 'node-00' ? [cap('eo', T.SENSOR, 0.9), cap('r0', T.COMMUNICATION, 0.9)] : [cap(`${id}-r`, T.COMMUNICATION, 0.9)]) });
    for (const node of f.nodes) node.start();
    f.run(30_000);
    expect(f.nodes.map((x) => x.state)).toEqual(['operational', 'operational', 'operational']);
    f.byId('node-00').setHealth(Health.FAILED);
    f.run(5_000);
    for (const node of f.nodes) {
      expect(node.state).toBe('degraded');
      expect(node.cellStatus).toEqual({ type: 'Failed', reason: 'Missing required capabilities' });
    }
    f.byId('node-00').setHealth(Health.NOMINAL);
    f.run(5_000);
    for (const node of f.nodes) {
      expect(node.state).toBe('operational');
      expect(f.labels(node).slice(-2)).toEqual(['T12', 'T13']);
    }
  });

  it('T12 → T13: a member is cut off (the cell drops below three), comes back, and the cell is operational again under one leader', () => {
    const f = fleet(3);
    for (const node of f.nodes) node.start();
    f.run(30_000);
    f.medium.disconnect('node-00');
    f.run(8_000);
    expect(f.byId('node-02').state).toBe('degraded');
    expect(f.byId('node-02').cellStatus).toEqual({ type: 'Failed', reason: 'Insufficient members' });
    f.medium.reconnect('node-00');
    f.run(15_000);
    // the cut-off node elected itself in a higher round; by the round rule (no preemption) the others follow it
    const leaders = new Set(f.nodes.map((x) => `${x.leader!.node_id}@${x.leader!.round}`));
    expect(leaders.size).toBe(1);
    for (const node of f.nodes) expect(node.state).toBe('operational');
    expect(f.labels(f.byId('node-02'))).toEqual(expect.arrayContaining(['T12']));
  });

  it('T15: a degraded cell that does not recover within 60 s goes back to discovery', () => {
    const f = fleet(3, { caps: (id) => (id === 'node-00' ? [cap('eo', T.SENSOR, 0.9), cap('r0', T.COMMUNICATION, 0.9)] : [cap(`${id}-r`, T.COMMUNICATION, 0.9)]) });
    for (const node of f.nodes) node.start();
    f.run(30_000);
    f.byId('node-00').setHealth(Health.FAILED);
    f.run(5_000);
    expect(f.byId('node-02').state).toBe('degraded');
    f.run(60_000);
    expect(f.labels(f.byId('node-02'))).toContain('T15');
  });

  it('T10: a cell that can never be Ready (no sensor anywhere) returns to discovery after the 60 s formation deadline', () => {
    const f = fleet(3, { caps: (id) => [cap(`${id}-r`, T.COMMUNICATION, 0.9)] });
    for (const node of f.nodes) node.start();
    f.run(30_000);
    for (const node of f.nodes) {
      expect(node.state).toBe('forming');
      expect(node.cellStatus).toEqual({ type: 'Failed', reason: 'Missing required capabilities' });
    }
    f.run(50_000);
    for (const node of f.nodes) expect(f.labels(node)).toContain('T10');
  });

  it('T8 → T9: without a qualifying operator the leader is autonomous and waits for a human, who approves', () => {
    // communications need oversight without an operator: this lab turns oversight off so only autonomy is in the way
    const f = fleet(3, { operator: false, coordinator: { oversight: 'disabled' }, caps: (id) => [cap(`${id}-r`, T.COMMUNICATION, 0.9), cap(`${id}-eo`, T.SENSOR, 0.9)] });
    for (const node of f.nodes) node.start();
    f.run(30_000);
    const leader = f.byId(f.nodes[0]!.leader!.node_id);
    expect(leader.leader!.autonomous).toBe(true);
    for (const node of f.nodes) expect(node.state).toBe('awaiting_approval');
    expect(() => f.byId('node-00').decide(true, 'cpt-miller', false)).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    leader.decide(true, 'cpt-miller');
    f.run(3_000);
    for (const node of f.nodes) {
      expect(node.state).toBe('operational');
      expect(f.labels(node).slice(-2)).toEqual(['T8', 'T9']);
    }
  });

  it('T16: stop leaves and stops; eight nodes form one cell', () => {
    const f = fleet(8);
    for (const node of f.nodes) node.start();
    f.run(30_000);
    expect(new Set(f.nodes.map((x) => x.cellId)).size).toBe(1);
    expect(f.nodes.every((x) => x.state === 'operational')).toBe(true);
    f.nodes[0]!.stop();
    expect(f.nodes[0]!.state).toBe('stopped');
    expect(f.labels(f.nodes[0]!).slice(-2)).toEqual(['T16', 'T16']);
  });
});
