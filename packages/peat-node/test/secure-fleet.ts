// SPDX-License-Identifier: Apache-2.0
// A fleet of Peat nodes on one virtual clock, each with its own Ed25519 key, @ecps/peat replica and authenticated
// mesh transport on an in-memory network: cell state travels as signed Automerge changes between peers that
// passed the mutual formation-key handshake; the election's bus messages travel as Application frames between
// the same authenticated peers.
import { seededRandom } from '@ecps/core';
import { CapabilityType as T, MemoryNetwork, MutualHandshake, PeatReplica, VirtualClock, identityFromKeyProvider, meshTransport } from '@ecps/peat';
import type { Capability, NodeConfig, Operator } from '@ecps/peat';
import type { CoordinatorOptions } from '@ecps/peat-cell';
import { SoftwareKeyProvider } from '@ecps/trust';
import { NodeOrchestrator, peatMedium } from '../src/index';

export const SECRET = Buffer.alloc(32, 7).toString('base64');

export const cap = (id: string, capability_type: number, confidence: number): Capability => ({ id, name: id, capability_type, confidence, metadata: {}, registered_at: 0 });
export const supervisor = (id: string): Operator => ({ id: `op-${id}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 });

export interface FleetSpec {
  /** Capabilities by node index (ids are only known once the keys exist). */
  readonly caps?: (i: number, id: string) => Capability[];
  readonly operator?: boolean;
  readonly coordinator?: CoordinatorOptions;
  /** Formation secret by node index (default: the shared one). */
  readonly secret?: (i: number) => string;
  /** Latitude offset by node index, in degrees (default i × 1e-5: one ≈150 m geohash cell). */
  readonly lat?: (i: number) => number;
}

export interface FleetNode {
  readonly orchestrator: NodeOrchestrator;
  readonly replica: PeatReplica;
  readonly id: string;
}

export class SecureFleet {
  readonly clock = new VirtualClock();
  readonly network = new MemoryNetwork({ clock: this.clock, seed: 11 });
  readonly nodes: FleetNode[] = [];
  private readonly keys = new SoftwareKeyProvider();
  private cells = 0;

  static async create(n: number, spec: FleetSpec = {}): Promise<SecureFleet> {
    const f = new SecureFleet();
    for (let i = 0; i < n; i++) await f.add(spec);
    return f;
  }

  async add(spec: FleetSpec = {}): Promise<FleetNode> {
    const i = this.nodes.length;
    await this.keys.generateKey(`node-${i}`, 'ed25519');
    const identity = await identityFromKeyProvider(this.keys, `node-${i}`);
    const id = identity.nodeId;
    const handshake = new MutualHandshake({ formationId: 'alpha', formationSecret: spec.secret?.(i) ?? SECRET, identity, clock: this.clock, random: seededRandom(100 + i) });
    const transport = meshTransport({ link: this.network.link(id), clock: this.clock, random: seededRandom(200 + i), handshake });
    const replica = await PeatReplica.open({ transport, identity, clock: this.clock, random: seededRandom(300 + i) });
    await replica.start();
    const config: NodeConfig = {
      id,
      platform_type: 'ugv',
      capabilities: spec.caps?.(i, id) ?? [cap(`${id}-radio`, T.COMMUNICATION, 0.9), cap(`${id}-eo`, T.SENSOR, 0.85)],
      comm_range_m: 1000,
      max_speed_mps: 10,
      operator_binding: spec.operator === false ? null : { operators: [supervisor(id)], platform_ids: [id], binding_type: 'direct', bound_at: 0 },
      created_at: 0,
    };
    const orchestrator = new NodeOrchestrator({
      config,
      position: { latitude: 34.0 + (spec.lat?.(i) ?? i * 0.00001), longitude: -117.0, altitude: 100 },
      clock: this.clock,
      medium: peatMedium(transport),
      replica,
      maxCellSize: 8,
      newId: () => `cell-${++this.cells}`,
      ...(spec.coordinator ? { coordinator: spec.coordinator } : {}),
    });
    const node = { orchestrator, replica, id };
    this.nodes.push(node);
    return node;
  }

  get orchestrators(): NodeOrchestrator[] {
    return this.nodes.map((n) => n.orchestrator);
  }

  /** Node ids, ascending. */
  get sortedIds(): string[] {
    return this.nodes.map((n) => n.id).sort();
  }

  byId(id: string): FleetNode {
    return this.nodes.find((n) => n.id === id)!;
  }

  /** Runs virtual time until `done` holds (true) or `maxMs` pass (false). */
  until(done: () => boolean, maxMs: number): Promise<boolean> {
    return this.clock.run(done, maxMs);
  }

  /** Runs `ms` of virtual time. */
  async run(ms: number): Promise<void> {
    await this.clock.run(() => false, ms);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) {
      n.orchestrator.stop();
      await n.replica.stop();
    }
  }
}

export const labels = (node: NodeOrchestrator): string[] => node.transitions.map((t) => t.label);
