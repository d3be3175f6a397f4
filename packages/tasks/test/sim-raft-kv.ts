// SPDX-License-Identifier: Apache-2.0
// A 3-member Raft KV of the production pieces (RaftNode, FileStorage on a simulated disk, transportNetwork, serveKv)
// in the seeded SimNetwork, with KvClients on their own simulated nodes: the coordination store the task table runs
// on, under real partitions, crashes and pauses.
import { seededRandom } from '@ecps/core';
import { FileStorage, KvClient, KvStateMachine, RaftNode, serveKv, transportNetwork } from '@ecps/raft';
import type { Disk } from '@ecps/raft';
import { SimBroker, SimDisk, SimNetwork } from '@ecps/testkit';
import type { SimPacket } from '@ecps/testkit';

export class SimRaftKv {
  readonly net: SimNetwork<SimPacket>;
  readonly ids = ['n1', 'n2', 'n3'];
  readonly stores = new Map<string, KvStateMachine | undefined>();
  readonly nodes = new Map<string, RaftNode | undefined>();
  private readonly broker: SimBroker;
  private readonly disks = new Map<string, SimDisk>();
  private restarts = 0;
  readonly errors: string[] = [];

  constructor(readonly seed: number, faults: { dropRate?: number; duplicateRate?: number } = {}) {
    this.net = new SimNetwork<SimPacket>({ seed, dropRate: faults.dropRate ?? 0.03, duplicateRate: faults.duplicateRate ?? 0.02, maxDelay: 12 });
    this.broker = new SimBroker(this.net);
    for (const id of this.ids) {
      this.disks.set(id, new SimDisk({ schedule: (ms, fn) => this.net.schedule(ms, fn), random: seededRandom(seed * 17 + id.length + Number(id.slice(1))) }));
      this.start(id);
    }
  }

  start(id: string): void {
    this.net.restart(id);
    const incarnation = this.net.incarnation(id);
    const random = seededRandom(this.seed * 101 + this.restarts++);
    const transport = this.broker.transport(id, { random });
    const clock = this.net.clock(id);
    const store = new KvStateMachine();
    void (async () => {
      const node = await RaftNode.start({
        id,
        peers: { voters: this.ids, learners: [] },
        storage: new FileStorage({ dir: `/${id}`, disk: this.disks.get(id) as unknown as Disk, segmentBytes: 16 * 1024 }),
        stateMachine: store,
        network: transportNetwork({ transport, clusterId: 'tasks', nodeId: id, clock, random }),
        tickMs: 10,
        snapshotEvery: 30,
        maxSizePerMsg: 8192,
        clock,
        random,
        defer: (fn) => this.net.scheduleOn(id, 0, fn, incarnation),
      });
      await serveKv({ transport, clusterId: 'tasks', node, store, timeoutMs: 300, clock, random });
      if (this.net.incarnation(id) === incarnation) {
        this.nodes.set(id, node);
        this.stores.set(id, store);
      }
    })().catch((error: unknown) => this.errors.push(`${id}: ${String(error)}`));
  }

  crash(id: string): void {
    this.nodes.set(id, undefined);
    this.stores.set(id, undefined);
    this.net.crash(id);
    this.disks.get(id)?.crash();
  }

  /** A KvClient on simulated node `id`. */
  client(id: string, deadlineMs = 1_500): KvClient {
    return new KvClient({
      transport: this.broker.transport(id, { random: seededRandom(this.seed * 7 + id.length) }),
      clusterId: 'tasks',
      members: this.ids,
      nodeId: id,
      attemptTimeoutMs: 120,
      deadlineMs,
      clock: this.net.clock(id),
      random: seededRandom(this.seed * 13 + id.charCodeAt(id.length - 1)),
    });
  }

  leader(): RaftNode | undefined {
    return [...this.nodes.values()].find((n) => n?.isLeader());
  }

  /** Runs the network until `promise` settles (or `ms` pass). */
  async settle<T>(promise: Promise<T>, ms = 5_000): Promise<{ value?: T; error?: unknown; done: boolean }> {
    let out: { value?: T; error?: unknown; done: boolean } = { done: false };
    promise.then(
      (value) => (out = { value, done: true }),
      (error: unknown) => (out = { error, done: true }),
    );
    await this.net.runWhileAsync(() => out.done, this.net.now + ms);
    return out;
  }
}
