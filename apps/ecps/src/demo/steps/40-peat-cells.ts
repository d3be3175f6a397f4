// SPDX-License-Identifier: Apache-2.0
// Peat: eight simulated robots in two areas, each with its own key, authenticated to the others by the formation
// key, run the Peat node: they form two cells and elect leaders, the leaders summarise their cells (with the ISR
// chain their sensors, compute and radios compose) up to a platoon, and the platoon leader issues a deployment that
// one robot fails (its copy of the artifact is corrupt), so every robot is rolled back to the previous one.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityType as T, MemoryNetwork, VirtualClock, identityFromKeyProvider } from '@ecps/peat';
import type { Capability, NodeConfig } from '@ecps/peat';
import { ConfigPackageAdapter, FolderBlobStore, parseDirective } from '@ecps/peat-deploy';
import type { BlobStore, DeploymentDirective } from '@ecps/peat-deploy';
import { openSecureNode } from '@ecps/peat-node';
import type { SecureNode } from '@ecps/peat-node';
import { SoftwareKeyProvider } from '@ecps/trust';
import type { DemoStep } from '../step';

const cap = (id: string, capability_type: number, confidence: number): Capability => ({ id, name: id, capability_type, confidence, metadata: {}, registered_at: 0 });

function robot(name: string, i: number): Omit<NodeConfig, 'id'> {
  return {
    platform_type: 'ugv',
    capabilities: [cap(`${name}/radio`, T.COMMUNICATION, 0.9), i % 2 === 0 ? cap(`${name}/eo`, T.SENSOR, 0.88) : cap(`${name}/gpu`, T.COMPUTE, 0.86)],
    comm_range_m: 2000,
    max_speed_mps: 8,
    operator_binding: { operators: [{ id: `op-${name}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 }], platform_ids: [name], binding_type: 'direct', bound_at: 0 },
    created_at: 0,
  };
}

/** A blob store behind a slow link: every read starts `delayMs` of (virtual) time late. */
function slow(store: BlobStore, clock: VirtualClock, delayMs: number): BlobStore {
  return {
    has: (hash) => store.has(hash),
    async *get(hash, range) {
      await new Promise<void>((r) => clock.setTimeout(r, delayMs));
      yield* store.get(hash, range);
    },
  };
}

/** Runs virtual time while real I/O (artifact copies) is in flight: 200 ms of it per turn of ≥ 10 ms real time. */
async function settle(clock: VirtualClock, done: () => boolean, maxRealMs = 30_000): Promise<boolean> {
  const end = Date.now() + maxRealMs;
  while (Date.now() < end) {
    if (await clock.run(done, 200)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return done();
}

const step: DemoStep = {
  title: 'Peat: two cells of robots elect leaders, compose, summarise and roll back a failed deployment',
  // eight replicas syncing signed changes for a few virtual minutes: slower than the other steps on a busy machine
  timeoutMs: 180_000,
  async run(ctx) {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock, seed: 5 });
    const keys = new SoftwareKeyProvider();
    const dir = ctx.tempDir('peat');
    const mirror = new FolderBlobStore(join(dir, 'mirror'));
    const v1 = Buffer.from('detector.threshold = 0.5\n');
    const v2 = Buffer.from('detector.threshold = 0.3\n');
    const h1 = await mirror.put(v1);
    const h2 = await mirror.put(v2);
    // ugv-8's copy of v2 is corrupt, and comes over a slow link
    const corrupt = new FolderBlobStore(join(dir, 'corrupt'));
    await corrupt.put(v1);
    await mkdir(join(dir, 'corrupt', 'sha256'), { recursive: true });
    await writeFile(corrupt.pathOf(h2), Buffer.from('detector.threshold = 0.0\n'));

    const names = new Map<string, string>();
    const secret = Buffer.alloc(32, 3).toString('base64');
    let cells = 0;
    const nodes: SecureNode[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const name = `ugv-${i + 1}`;
        await keys.generateKey(name, 'ed25519');
        const identity = await identityFromKeyProvider(keys, name);
        names.set(identity.nodeId, name);
        nodes.push(
          await openSecureNode({
            identity,
            link: network.link(identity.nodeId),
            clock,
            formationId: 'demo',
            formationSecret: secret,
            config: robot(name, i),
            // two areas ~2 km apart: two geohash clusters
            position: { latitude: (i < 4 ? 34.0 : 34.02) + i * 0.00001, longitude: -117.0, altitude: 100 },
            maxCellSize: 8,
            newId: () => `cell-${String.fromCharCode(65 + cells++)}`,
            hierarchy: { zoneId: 'platoon-1' },
            deployment: {
              source: i === 7 ? slow(corrupt, clock, 10_000) : mirror,
              local: new FolderBlobStore(join(dir, name, 'blobs')),
              adapters: [new ConfigPackageAdapter({ root: join(dir, name, 'config') })],
            },
          }),
        );
      }
      for (const n of nodes) await n.start();
      const o = nodes.map((n) => n.orchestrator);
      const name = (id: string | null | undefined) => names.get(id ?? '') ?? '?';
      const top = () => o.find((n) => n.hierarchy.platoonSummary?.squad_count === 2);
      if (!(await clock.run(() => top() !== undefined, 120_000))) throw new Error('the robots formed no platoon');
      const platoonLeader = top()!;
      for (const cell of ['cell-A', 'cell-B']) {
        const members = o.filter((n) => n.cellId === cell);
        if (members.length !== 4 || members.some((m) => m.state !== 'operational')) throw new Error(`${cell} is not four operational robots`);
        const leader = members[0]!.leader!;
        ctx.held('peat', `${cell}: ${members.map((m) => `${name(m.id)}(${m.role})`).join(' ')} → leader ${name(leader.node_id)} round ${leader.round}`);
      }
      const platoon = platoonLeader.hierarchy.platoonSummary!;
      const isr = platoon.aggregated_capabilities.filter((c) => c.metadata['pattern'] === 'isr_chain');
      if (isr.length !== 2) throw new Error('the cells composed no ISR chain');
      ctx.held('peat', `composed in each cell: ${isr.map((c) => `isr_chain ${c.confidence.toFixed(2)}`).join(', ')}`);
      ctx.held('peat', `platoon-1 (leader ${name(platoon.leader_id)}, from summary deltas): ${platoon.squad_count} squads, ${platoon.total_member_count} robots, readiness ${platoon.readiness_score.toFixed(3)}, radius ${platoon.bounding_box.radius_m.toFixed(0)} m`);

      // the platoon leader deploys v1, then v2 replacing it with a 100 % success threshold
      const directive = (id: string, hash: string, size: number, options: Record<string, unknown>): DeploymentDirective =>
        parseDirective({
          directive_id: id,
          issued_at: new Date(clock.now()).toISOString(),
          issuer_node_id: platoonLeader.id,
          issuer_formation_id: 'platoon-1',
          scope: { type: 'formation', formation_id: 'platoon-1' },
          artifact: { blob_hash: hash, size_bytes: size, artifact_type: { type: 'config_package', target_path: 'etc/detector.toml' }, sha256: null, name: 'detector', version: id },
          capabilities: ['detector'],
          config: null,
          options,
        });
      const deployments = platoonLeader.deployments!;
      platoonLeader.deploy(directive('detector-v1', h1, v1.length, {}));
      if (!(await settle(clock, () => deployments.outcome('detector-v1')?.active === 8))) throw new Error('detector-v1 did not reach every robot');
      platoonLeader.deploy(directive('detector-v2', h2, v2.length, { replace_existing: true, rollback_threshold_percent: 100 }));
      const settledAll = () => [...deployments.statuses('detector-v2').values()].filter((s) => s.state === 'failed' || s.state === 'rolled_back').length === 8;
      if (!(await settle(clock, settledAll))) throw new Error('detector-v2 did not settle on every robot');
      const outcome = deployments.outcome('detector-v2')!;
      const failed = [...deployments.statuses('detector-v2').values()].filter((s) => s.state === 'failed' && s.error_message === 'hash mismatch');
      if (failed.length !== 1 || name(failed[0]!.node_id) !== 'ugv-8') throw new Error(`expected ugv-8 alone to refuse its corrupt copy, failed: ${failed.map((s) => name(s.node_id)).join(', ') || 'none'}`);
      ctx.refused('peat', `detector-v2: ${outcome.active}/${outcome.targets} active; ugv-8 refused its copy (${failed[0]!.error_message})`);
      if (!outcome.rollback) throw new Error('the deployment should have been rolled back');
      ctx.log(`peat       ${name(platoonLeader.id)}: success ${outcome.success_percent.toFixed(1)} % < 100 % → rollback sent down the platoon`);
      const contents = await Promise.all(nodes.map((n) => readFile(join(dir, name(n.orchestrator.id), 'config', 'etc', 'detector.toml'), 'utf8')));
      if (contents.some((c) => c !== v1.toString())) throw new Error('rollback did not restore v1 everywhere');
      ctx.held('peat', `every robot rolled back: etc/detector.toml reads "${v1.toString().trim()}" again`);
    } finally {
      for (const n of nodes) await n.stop();
    }
  },
};

export default step;
