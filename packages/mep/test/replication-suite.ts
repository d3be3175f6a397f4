// SPDX-License-Identifier: Apache-2.0
// The replication scenarios of issue 4, shared by every transport the tests run them on.
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock, seededRandom, type Transport } from '@ecps/core';
import { NetworkPartition, waitFor } from '@ecps/testkit';
import { createMemoryStore, type MemoryStore } from '../src/memory-store';
import type { ConsistencyMode } from '../src/replication';
import { f64Frame } from './helpers';

export interface SuiteCluster {
  stores: { a: MemoryStore; b: MemoryStore; c: MemoryStore };
  net: NetworkPartition;
  clock: ManualClock;
  close(): Promise<void>;
}

const NODES = ['a', 'b', 'c'] as const;

export interface ClusterOptions {
  replicationFactor?: number;
  peers?: (node: string) => string[];
}

/** Three stores `a`, `b`, `c` whose transports (made by `transportFor`) pass through one NetworkPartition. */
export async function makeCluster(
  mode: ConsistencyMode,
  transportFor: (node: string) => Transport,
  options: ClusterOptions = {},
): Promise<SuiteCluster> {
  const net = new NetworkPartition();
  const clock = new ManualClock();
  const transports: Transport[] = [];
  const stores = {} as SuiteCluster['stores'];
  for (const [i, node] of NODES.entries()) {
    const transport = net.wrap(node, transportFor(node));
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

/** A comparable digest of a replica: every live key with its tensor bytes and the version vector. */
function contents(store: MemoryStore): string {
  const versionVector = store.versionVector();
  const live = store
    .keys()
    .sort()
    .map((k) => `${k}=${Buffer.from(store.get(k)!.tensor.bytes).toString('hex')}`);
  const vv = Object.entries(versionVector)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([n, c]) => `${n}:${c}`);
  return `${live.join(',')} | ${vv.join(',')}`;
}

export function describeReplicationSuite(name: string, make: (mode: ConsistencyMode) => Promise<SuiteCluster>, timeoutMs = 5000): void {
  describe(`three replicated stores on ${name}`, () => {
    let c: SuiteCluster | undefined;
    afterEach(async () => {
      await c?.close();
      c = undefined;
    });

    it('a strong write succeeds with one replica down', async () => {
      c = await make('strong');
      c.net.isolate('c');
      const ack = await c.stores.a.put(await f64Frame([1, 2, 3], 'k1'));
      expect(ack).toEqual({ success: true, message: 'Embedding stored successfully' });
      expect(c.stores.b.get('k1')).toBeDefined();
      expect(c.stores.c.get('k1')).toBeUndefined();
      c.net.heal();
      await c.stores.c.antiEntropy();
      await waitFor(() => c!.stores.c.get('k1') !== undefined, 'anti-entropy to c', timeoutMs);
    });

    it('a strong write fails cleanly with two replicas down and is rolled back', async () => {
      c = await make('strong');
      await c.stores.a.put(await f64Frame([9, 9, 9], 'k1'));
      await waitFor(() => c!.stores.c.get('k1') !== undefined, 'first write everywhere', timeoutMs);
      c.net.isolate('b', 'c');
      const pending = c.stores.a.put(await f64Frame([1, 0, 0], 'k1'));
      const vector = (store: MemoryStore) => Array.from(new Float64Array(store.get('k1')!.tensor.bytes.slice().buffer));
      await waitFor(() => vector(c!.stores.a)[0] === 1, 'local write awaiting its quorum', timeoutMs);
      c.clock.advance(5000);
      expect(await pending).toEqual({ success: false, message: 'quorum not reached' });
      // the coordinator's own write is undone: the previous version is back
      expect(vector(c.stores.a)).toEqual([9, 9, 9]);
      c.net.heal();
      for (const store of Object.values(c.stores)) await store.antiEntropy();
      await new Promise((r) => setTimeout(r, 50));
      for (const store of Object.values(c.stores)) expect(vector(store)).toEqual([9, 9, 9]);
    });

    it('rolls back on the replicas that applied a write whose acknowledgements were lost', async () => {
      c = await make('strong');
      c.net.block('b', 'a');
      c.net.block('c', 'a');
      const pending = c.stores.a.put(await f64Frame([1, 0, 0], 'lost-acks'));
      await waitFor(() => c!.stores.b.get('lost-acks') !== undefined && c!.stores.c.get('lost-acks') !== undefined, 'replicas applied', timeoutMs);
      c.clock.advance(5000);
      expect(await pending).toEqual({ success: false, message: 'quorum not reached' });
      await waitFor(() => Object.values(c!.stores).every((s) => s.get('lost-acks') === undefined), 'rollback everywhere', timeoutMs);
    });

    it('every replica converges to the same contents after a partition heals', async () => {
      c = await make('eventual');
      const { a, b, c: cc } = c.stores;
      await a.put(await f64Frame([1, 0], 'shared'));
      await waitFor(() => cc.get('shared') !== undefined, 'initial replication', timeoutMs);
      c.net.split(['a', 'b'], ['c']);
      await a.put(await f64Frame([2, 0], 'conflict'));
      await cc.put(await f64Frame([0, 2], 'conflict'));
      for (let i = 0; i < 5; i++) await b.put(await f64Frame([i, 1], `ab-${i}`));
      for (let i = 0; i < 5; i++) await cc.put(await f64Frame([1, i], `c-${i}`));
      await b.put(await f64Frame([3, 3], 'ab-0')); // overwrite: c will never see the intermediate version
      await cc.delete('shared');
      await waitFor(() => a.get('ab-4') !== undefined, 'replication inside the majority side', timeoutMs);
      expect(contents(a)).not.toBe(contents(cc));
      c.net.heal();
      c.clock.advance(30_000); // the anti-entropy timers of all three replicas fire
      await waitFor(() => contents(a) === contents(b) && contents(b) === contents(cc), 'convergence', timeoutMs);
      expect(a.get('shared')).toBeUndefined();
      expect(a.keys()).toHaveLength(11);
      // quiescent: the version vectors cover everything, so a further round changes nothing
      const before = contents(a);
      for (const store of [a, b, cc]) await store.antiEntropy();
      await new Promise((r) => setTimeout(r, 50));
      expect(contents(a)).toBe(before);
      expect(contents(cc)).toBe(before);
    });
  });
}
