// SPDX-License-Identifier: Apache-2.0
// A simulated mesh for the convergence tests: N replicas on one in-memory network with a virtual clock.
import { seededRandom } from '@ecps/core';
import { SoftwareKeyProvider } from '@ecps/trust';
import { MemoryNetwork } from '../src/transport/memory-link';
import type { MemoryNetworkOptions } from '../src/transport/memory-link';
import { meshTransport } from '../src/transport/mesh-transport';
import type { MeshTransport } from '../src/transport/mesh-transport';
import { PeatReplica } from '../src/replica';
import type { PeatReplicaOptions } from '../src/replica';
import { MutualHandshake } from '../src/security/handshake';
import { identityFromKeyProvider } from '../src/security/identity';
import type { NodeIdentity } from '../src/security/identity';
import { VirtualClock } from '../src/sim/virtual-clock';
import type { StorageAdapter } from '../src/store/storage';

export const SECRET = Buffer.alloc(32, 7).toString('base64');

export interface SimNode {
  readonly id: string;
  readonly replica: PeatReplica;
  readonly transport: MeshTransport;
  readonly identity: NodeIdentity | undefined;
}

export interface SimOptions {
  readonly nodes: number;
  readonly seed?: number;
  readonly network?: MemoryNetworkOptions;
  /** Keys, mutual handshake and signed changes. Default false (plain ids n0, n1, ...). */
  readonly secure?: boolean;
  readonly replica?: Partial<PeatReplicaOptions>;
  readonly storage?: (i: number) => StorageAdapter | undefined;
  /** Formation secret per node (default: one shared secret). */
  readonly secrets?: readonly string[];
}

export class Sim {
  readonly clock = new VirtualClock();
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  private readonly keys = new SoftwareKeyProvider();

  constructor(private readonly options: SimOptions) {
    this.network = new MemoryNetwork({ clock: this.clock, seed: options.seed ?? 1, ...options.network });
  }

  static async create(options: SimOptions): Promise<Sim> {
    const sim = new Sim(options);
    for (let i = 0; i < options.nodes; i++) await sim.add();
    return sim;
  }

  /** Adds (and starts) one node. */
  async add(extra: Partial<PeatReplicaOptions> = {}): Promise<SimNode> {
    const i = this.nodes.length;
    const seed = (this.options.seed ?? 1) * 1000 + i;
    let identity: NodeIdentity | undefined;
    let id = `n${i}`;
    if (this.options.secure) {
      await this.keys.generateKey(`node-${i}`, 'ed25519');
      identity = await identityFromKeyProvider(this.keys, `node-${i}`);
      id = identity.nodeId;
    }
    const handshake = identity
      ? new MutualHandshake({ formationId: 'sim', formationSecret: this.options.secrets?.[i] ?? SECRET, identity, clock: this.clock, random: seededRandom(seed) })
      : undefined;
    const transport = meshTransport({
      link: this.network.link(id),
      clock: this.clock,
      random: seededRandom(seed + 1),
      ...(handshake ? { handshake } : {}),
    });
    const storage = this.options.storage?.(i);
    const replica = await PeatReplica.open({
      transport,
      clock: this.clock,
      random: seededRandom(seed + 2),
      ...(identity ? { identity } : {}),
      ...(storage ? { storage } : {}),
      ...this.options.replica,
      ...extra,
    });
    await replica.start();
    const node = { id, replica, transport, identity };
    this.nodes.push(node);
    return node;
  }

  /** Runs virtual time until `done()` holds; false after `maxMs`. */
  run(done: () => boolean | Promise<boolean>, maxMs = 60_000): Promise<boolean> {
    return this.clock.run(done, maxMs);
  }

  /** Runs until every node sees every other as a peer. */
  async connect(maxMs = 30_000): Promise<void> {
    const ok = await this.run(() => this.nodes.every((n) => n.replica.peers().length === this.nodes.length - 1), maxMs);
    if (!ok) throw new Error(`mesh did not connect: ${this.nodes.map((n) => n.replica.peers().length).join(',')}`);
  }

  /** Runs until `collection:id` reads the same on every node (and is defined). */
  async converge(collection: string, id: string, maxMs = 60_000): Promise<boolean> {
    return this.run(async () => {
      const values = await Promise.all(this.nodes.map((n) => n.replica.get(collection, id)));
      return values.every((v) => v !== undefined && JSON.stringify(v) === JSON.stringify(values[0]));
    }, maxMs);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.replica.stop();
  }
}
