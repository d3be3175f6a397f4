// SPDX-License-Identifier: Apache-2.0
// Peat: eight simulated robots in two areas form two cells and elect leaders, compose an ISR chain from their
// sensors, compute and radios, summarise up to a platoon, and take a deployment that one robot fails (its copy of
// the artifact is corrupt), so the issuer rolls every robot back to the previous configuration.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityType as T, VirtualClock } from '@ecps/peat';
import type { Capability, NodeConfig, NodeState } from '@ecps/peat';
import { compose, composedCapabilities } from '@ecps/peat-compose';
import { ConfigPackageAdapter, DeploymentAgent, DeploymentTracker, FolderBlobStore, parseDirective } from '@ecps/peat-deploy';
import type { DeploymentStatus } from '@ecps/peat-deploy';
import { platoonSummary, squadSummary } from '@ecps/peat-hierarchy';
import { NodeOrchestrator, SimMedium } from '@ecps/peat-node';
import type { DemoStep } from '../step';

const cap = (id: string, capability_type: number, confidence: number, metadata: Record<string, unknown> = {}): Capability => ({ id, name: id, capability_type, confidence, metadata, registered_at: 0 });

function robot(id: string, i: number): NodeConfig {
  const caps = [cap(`${id}/radio`, T.COMMUNICATION, 0.9)];
  caps.push(i % 2 === 0 ? cap(`${id}/eo`, T.SENSOR, 0.88, { sensor_type: 'camera' }) : cap(`${id}/gpu`, T.COMPUTE, 0.86));
  return {
    id,
    platform_type: 'ugv',
    capabilities: caps,
    comm_range_m: 2000,
    max_speed_mps: 8,
    operator_binding: { operators: [{ id: `op-${id}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 }], platform_ids: [id], binding_type: 'direct', bound_at: 0 },
    created_at: 0,
  };
}

const step: DemoStep = {
  title: 'Peat: two cells of robots elect leaders, compose, summarise and roll back a failed deployment',
  async run(ctx) {
    const clock = new VirtualClock();
    const medium = new SimMedium(clock);
    let cells = 0;
    // two areas ~2 km apart: two geohash clusters
    const positions = Array.from({ length: 8 }, (_, i) => ({ latitude: (i < 4 ? 34.0 : 34.02) + i * 0.00001, longitude: -117.0, altitude: 100 }));
    const nodes = positions.map((position, i) => new NodeOrchestrator({ config: robot(`ugv-${i + 1}`, i), position, clock, medium, maxCellSize: 8, newId: () => `cell-${String.fromCharCode(65 + cells++)}` }));
    for (const n of nodes) n.start();
    clock.advance(30_000);
    const byCell = new Map<string, NodeOrchestrator[]>();
    for (const n of nodes) byCell.set(n.cellId ?? '-', [...(byCell.get(n.cellId ?? '-') ?? []), n]);
    for (const [cell, members] of byCell) {
      const leader = members[0]!.leader;
      if (members.some((m) => m.state !== 'operational')) throw new Error(`${cell} is not operational`);
      ctx.held('peat', `${cell}: ${members.map((m) => `${m.id}(${m.role})`).join(' ')} → leader ${leader?.node_id} round ${leader?.round}, ${members[0]!.state}`);
    }

    // composition over each cell's capabilities
    const summaries = [];
    for (const [cell, members] of byCell) {
      const caps = members.flatMap((m) => robot(m.id, nodes.indexOf(m)).capabilities);
      const composed = composedCapabilities(compose(caps, { node_ids: members.map((m) => m.id), cell_id: cell, timestamp: clock.now(), node_configs: members.map((m) => robot(m.id, nodes.indexOf(m))) }));
      const isr = composed.find((c) => c.metadata['pattern'] === 'isr_chain');
      if (!isr) throw new Error(`${cell} composed no ISR chain`);
      ctx.held('peat', `${cell}: composed ${composed.map((c) => `${String(c.metadata['pattern'])} ${c.confidence.toFixed(2)}`).join(', ')}`);
      const sources = members.map((m, k) => ({
        node_id: m.id,
        config: robot(m.id, nodes.indexOf(m)),
        state: { position: positions[nodes.indexOf(m)]!, fuel_minutes: 100 - k * 10, health: 1, phase: 3, cell_id: cell, zone_id: 'platoon-1', timestamp: clock.now() } satisfies NodeState,
      }));
      summaries.push(squadSummary(cell, members[0]!.leader!.node_id, sources, { now: clock.now() }));
    }
    const platoon = platoonSummary('platoon-1', summaries[0]!.leader_id, summaries, { now: clock.now() });
    ctx.log(`peat       platoon-1: ${platoon.squad_count} squads, ${platoon.total_member_count} robots, fuel ${platoon.avg_fuel_minutes.toFixed(0)} min, readiness ${platoon.readiness_score.toFixed(3)}, radius ${platoon.bounding_box.radius_m.toFixed(0)} m`);

    // deployment: v2 of a detector config replaces v1; ugv-8's copy of v2 is corrupt
    const dir = ctx.tempDir('peat');
    try {
      const mirror = new FolderBlobStore(join(dir, 'mirror'));
      const v1 = Buffer.from('detector.threshold = 0.5\n');
      const v2 = Buffer.from('detector.threshold = 0.3\n');
      const h1 = await mirror.put(v1);
      const h2 = await mirror.put(v2);
      const corrupt = new FolderBlobStore(join(dir, 'corrupt'));
      await corrupt.put(v1);
      await mkdir(join(dir, 'corrupt', 'sha256'), { recursive: true });
      await writeFile(corrupt.pathOf(h2), Buffer.from('detector.threshold = 0.0\n'));
      const adapter = new ConfigPackageAdapter();
      const statuses: DeploymentStatus[] = [];
      const agents = nodes.map(
        (n) =>
          new DeploymentAgent({
            nodeId: n.id,
            clock,
            profile: () => ({ node_id: n.id, formation_ids: { mesh: 'demo', cell: n.cellId, zone: 'platoon-1', company: null }, resources: { gpu_memory_mb: 0, memory_mb: 1024, storage_mb: 1024 }, capabilities: [], attributes: {} }),
            source: n.id === 'ugv-8' ? corrupt : mirror,
            local: new FolderBlobStore(join(dir, n.id)),
            adapters: [adapter],
            report: (s) => statuses.push(s),
          }),
      );
      const target = (id: string) => join(dir, id, 'etc', 'detector.toml');
      const directive = (hash: string, id: string, size: number, options: Record<string, unknown>) =>
        parseDirective({
          directive_id: id,
          issued_at: new Date(clock.now()).toISOString(),
          issuer_node_id: 'ugv-4',
          issuer_formation_id: 'platoon-1',
          scope: { type: 'formation', formation_id: 'platoon-1' },
          artifact: { blob_hash: hash, size_bytes: size, artifact_type: { type: 'config_package', target_path: '' }, sha256: null, name: 'detector', version: id },
          capabilities: ['detector'],
          config: null,
          options,
        });
      const perNode = (d: ReturnType<typeof directive>, id: string) => ({ ...d, artifact: { ...d.artifact, artifact_type: { type: 'config_package' as const, target_path: target(id) } } });
      const d1 = directive(h1, 'detector-v1', v1.length, {});
      for (const [k, a] of agents.entries()) a.accept(perNode(d1, nodes[k]!.id));
      for (const a of agents) await a.settled('detector-v1');
      const d2 = directive(h2, 'detector-v2', v2.length, { replace_existing: true, rollback_threshold_percent: 100 });
      const tracker = new DeploymentTracker(d2, nodes.map((n) => n.id));
      for (const [k, a] of agents.entries()) a.accept(perNode(d2, nodes[k]!.id));
      for (const a of agents) await a.settled('detector-v2');
      for (const s of statuses) tracker.onStatus(s);
      const failed = statuses.filter((s) => s.directive_id === 'detector-v2' && s.state === 'failed');
      if (failed.length !== 1 || failed[0]!.node_id !== 'ugv-8') throw new Error(`expected ugv-8 alone to refuse its corrupt copy, failed: ${failed.map((s) => s.node_id).join(', ') || 'none'}`);
      ctx.refused('peat', `detector-v2: ${8 - failed.length}/8 active; ${failed.map((s) => `${s.node_id} refused its copy (${s.error_message})`).join(', ')}`);
      const outcome = tracker.decide(clock.now());
      if (!outcome?.rollback) throw new Error('the deployment should have been rolled back');
      ctx.log(`peat       issuer: success ${outcome.success_percent.toFixed(1)} % < 100 % → rollback`);
      for (const a of agents) await a.control('detector-v2', outcome.rollback);
      const restored = await readFile(target('ugv-1'), 'utf8');
      if (restored !== v1.toString()) throw new Error('rollback did not restore v1');
      ctx.held('peat', `ugv-1: rolled back, ${target('ugv-1').slice(dir.length + 1)} reads "${restored.trim()}" again`);
      for (const a of agents) a.close();
    } finally {
      for (const n of nodes) n.stop();
    }
  },
};

export default step;
