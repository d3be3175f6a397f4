// SPDX-License-Identifier: Apache-2.0
// Three replicated stores on the in-memory transport, with a partitionable network (spec §7.3).
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock, seededRandom, type Transport } from '@ecps/core';
import { NetworkPartition, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createMemoryStore, type MemoryStore } from '../src/memory-store';
import type { ConsistencyMode } from '../src/replication';
import { describeReplicationSuite } from './replication-suite';
import { f64Frame } from './helpers';

const NODES = ['a', 'b', 'c'] as const;

interface Cluster {
  stores: Record<(typeof NODES)[number], MemoryStore>;
  net: NetworkPartition;
  clock: ManualClock;
  close(): Promise<void>;
}

async function cluster(mode: ConsistencyMode, options: { replicationFactor?: number; peers?: (node: string) => string[] } = {}): Promise<Cluster> {
  const bus = new MemoryBus();
  const net = new NetworkPartition();
  const clock = new ManualClock();
  const transports: Transport[] = [];
  const stores = {} as Cluster['stores'];
  for (const [i, node] of NODES.entries()) {
    const transport = net.wrap(node, memoryTransport({ nodeId: node, bus }));
    await transport.connect();
    transports.push(transport);
    stores[node] = await createMemoryStore({
      nodeId: node,
      clock,
      random: seededRandom(i + 1),
      replication: {
        transport,
        peers: options.peers?.(node) ?? NODES.filter((n) => n !== node),
        mode,
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
      },
    });
  }
  return {
    stores,
    net,
    clock,
    close: async () => {
      await Promise.all(Object.values(stores).map((s) => s.close()));
      await Promise.all(transports.map((t) => t.close()));
    },
  };
}

describeReplicationSuite('memory transport', cluster);

describe('replication configuration', () => {
  let c: Cluster | undefined;
  afterEach(async () => c?.close());

  it('fails a strong write at once when too few peers are configured for the quorum', async () => {
    // R = 5 needs a quorum of 3; 'a' knows a single peer
    c = await cluster('strong', { replicationFactor: 5, peers: (n) => (n === 'a' ? ['b'] : []) });
    const ack = await c.stores.a.put(await f64Frame([1, 2], 'k'));
    expect(ack).toEqual({ success: false, message: 'quorum not reached' });
    expect(c.stores.a.get('k')).toBeUndefined();
    expect(c.stores.b.get('k')).toBeUndefined();
  });

  it('replicates a delete as a tombstone that also wins over the older write after a partition', async () => {
    c = await cluster('eventual');
    await c.stores.a.put(await f64Frame([1, 0], 'gone'));
    await waitFor(() => c!.stores.c.get('gone') !== undefined, 'replication of gone');
    c.net.isolate('c');
    await c.stores.b.delete('gone');
    await waitFor(() => c!.stores.a.get('gone') === undefined, 'tombstone at a');
    expect(c.stores.c.get('gone')).toBeDefined();
    c.net.heal();
    await c.stores.c.antiEntropy();
    await waitFor(() => c!.stores.c.get('gone') === undefined, 'tombstone at c after healing');
  });
});
