// SPDX-License-Identifier: Apache-2.0
// Three replicated stores on the in-memory transport, with a partitionable network (spec §7.3).
import { afterEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import type { ConsistencyMode } from '../src/replication';
import { describeReplicationSuite, makeCluster, type ClusterOptions, type SuiteCluster } from './replication-suite';
import { f64Frame } from './helpers';

function cluster(mode: ConsistencyMode, options: ClusterOptions = {}): Promise<SuiteCluster> {
  const bus = new MemoryBus();
  return makeCluster(mode, (node) => memoryTransport({ nodeId: node, bus }), options);
}

describeReplicationSuite('memory transport', cluster);

describe('replication configuration', () => {
  let c: SuiteCluster | undefined;
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
