// SPDX-License-Identifier: Apache-2.0
// Eight authenticated Peat nodes in two areas (two cells) of one zone, on one virtual clock and an in-memory
// network, each with its own key, replica and deployment agent. Every node's medium is tapped: the test sees each
// message a node sends (and its bytes on the wire) and can drop the next one that matches.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '@ecps/core';
import { CapabilityType as T, MemoryNetwork, MutualHandshake, PeatReplica, VirtualClock, identityFromKeyProvider, meshTransport } from '@ecps/peat';
import type { Capability, NodeConfig } from '@ecps/peat';
import { ConfigPackageAdapter, FolderBlobStore, HttpBlobStore } from '@ecps/peat-deploy';
import type { DeploymentOutcome } from '@ecps/peat-deploy';
import type { EventSummary, PeatEvent } from '@ecps/peat-hierarchy';
import { SoftwareKeyProvider } from '@ecps/trust';
import { NodeOrchestrator, peatMedium } from '../src/index';
import type { HierarchicalCommand, NodeMedium, NodeMessage } from '../src/index';
import { encodeNodeMessage } from '../src/medium';

const SECRET = Buffer.alloc(32, 9).toString('base64');
const cap = (id: string, capability_type: number, confidence: number): Capability => ({ id, name: id, capability_type, confidence, metadata: {}, registered_at: 0 });

/** A medium that records what its node sends and can drop the next message matching a predicate. */
export class TappedMedium implements NodeMedium {
  readonly sent: { message: NodeMessage; bytes: number }[] = [];
  private drop: ((m: NodeMessage) => boolean) | null = null;
  dropped: NodeMessage[] = [];

  constructor(private readonly inner: NodeMedium) {}

  attach(nodeId: string, receive: Parameters<NodeMedium['attach']>[1]): (m: NodeMessage) => void {
    const send = this.inner.attach(nodeId, receive);
    return (m) => {
      if (this.drop?.(m)) {
        this.drop = null;
        this.dropped.push(m);
        return;
      }
      this.sent.push({ message: m, bytes: encodeNodeMessage(m).length });
      send(m);
    };
  }

  detach(nodeId: string): void {
    this.inner.detach(nodeId);
  }

  dropNext(match: (m: NodeMessage) => boolean): void {
    this.drop = match;
  }
}

export interface FleetMember {
  readonly index: number;
  readonly id: string;
  readonly orchestrator: NodeOrchestrator;
  readonly replica: PeatReplica;
  readonly medium: TappedMedium;
  readonly root: string;
  readonly commands: HierarchicalCommand[];
  readonly events: (PeatEvent | EventSummary)[];
  readonly outcomes: Map<string, DeploymentOutcome>;
}

export interface HierarchyFleetOptions {
  /** Node indices with a SENSOR (the others have COMPUTE); everyone has a radio. */
  readonly sensors: ReadonlySet<number>;
  /** The blob mirror's base URL for a node. */
  readonly mirror: (index: number) => string;
}

export class HierarchyFleet {
  readonly clock = new VirtualClock();
  readonly network = new MemoryNetwork({ clock: this.clock, seed: 21 });
  readonly nodes: FleetMember[] = [];
  private root = '';

  static async create(n: number, options: HierarchyFleetOptions): Promise<HierarchyFleet> {
    const f = new HierarchyFleet();
    f.root = await mkdtemp(join(tmpdir(), 'peat-node-hierarchy-'));
    const keys = new SoftwareKeyProvider();
    let cells = 0;
    for (let i = 0; i < n; i++) {
      await keys.generateKey(`node-${i}`, 'ed25519');
      const identity = await identityFromKeyProvider(keys, `node-${i}`);
      const id = identity.nodeId;
      const handshake = new MutualHandshake({ formationId: 'alpha', formationSecret: SECRET, identity, clock: f.clock, random: seededRandom(100 + i) });
      const transport = meshTransport({ link: f.network.link(id), clock: f.clock, random: seededRandom(200 + i), handshake });
      const replica = await PeatReplica.open({ transport, identity, clock: f.clock, random: seededRandom(300 + i) });
      await replica.start();
      const medium = new TappedMedium(peatMedium(transport));
      const root = join(f.root, `node-${i}`);
      const config: NodeConfig = {
        id,
        platform_type: 'ugv',
        capabilities: [cap(`${id}-radio`, T.COMMUNICATION, 0.9), options.sensors.has(i) ? cap(`${id}-eo`, T.SENSOR, 0.88) : cap(`${id}-gpu`, T.COMPUTE, 0.86)],
        comm_range_m: 2000,
        max_speed_mps: 8,
        operator_binding: { operators: [{ id: `op-${i}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 }], platform_ids: [id], binding_type: 'direct', bound_at: 0 },
        created_at: 0,
      };
      const commands: HierarchicalCommand[] = [];
      const events: (PeatEvent | EventSummary)[] = [];
      const outcomes = new Map<string, DeploymentOutcome>();
      const orchestrator = new NodeOrchestrator({
        config,
        // two areas ~2 km apart: two geohash clusters, so two cells
        position: { latitude: (i < n / 2 ? 34.0 : 34.02) + i * 0.00001, longitude: -117.0, altitude: 100 },
        clock: f.clock,
        medium,
        replica,
        maxCellSize: 8,
        newId: () => `cell-${String.fromCharCode(65 + cells++)}`,
        hierarchy: { zoneId: 'platoon-1', onCommand: (c) => commands.push(c), onEvent: (e) => events.push(e) },
        deployment: {
          meshId: 'alpha',
          source: new HttpBlobStore(options.mirror(i)),
          local: new FolderBlobStore(join(root, 'blobs')),
          adapters: [new ConfigPackageAdapter({ root: join(root, 'config') })],
          onOutcome: (d, o) => outcomes.set(d, o),
        },
      });
      f.nodes.push({ index: i, id, orchestrator, replica, medium, root, commands, events, outcomes });
    }
    return f;
  }

  byId(id: string): FleetMember {
    return this.nodes.find((n) => n.id === id)!;
  }

  /** Runs virtual time until `done` holds (true) or `maxMs` pass (false). */
  until(done: () => boolean, maxMs: number): Promise<boolean> {
    return this.clock.run(done, maxMs);
  }

  /**
   * Like `until`, for waits on real I/O (blob downloads): virtual time moves 200 ms per turn of at least 10 ms of
   * real time, so virtual timeouts cannot run away while the I/O is in flight. Gives up after `maxRealMs`.
   */
  async untilReal(done: () => boolean, maxRealMs: number): Promise<boolean> {
    const end = Date.now() + maxRealMs;
    while (Date.now() < end) {
      if (await this.clock.run(done, 200)) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return done();
  }

  async run(ms: number): Promise<void> {
    await this.clock.run(() => false, ms);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) {
      n.orchestrator.stop();
      await n.replica.stop();
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
