// SPDX-License-Identifier: Apache-2.0
// node.mep: a MemoryStore client on the node's transport, and optionally a store this node hosts (served as
// MemoryStore.Put / MemoryStore.Query, replicated to peers over the same transport). Protocol in @ecps/mep.
import type { Clock, Logger, RandomSource, Subscription, Transport } from '@ecps/core';
import {
  MemoryStoreClient,
  createMemoryStore,
  serveMemoryStore,
  type MemoryStore,
  type MemoryStoreOptions,
  type ReplicationOptions,
} from '@ecps/mep';

/** `createNode({ mep })`: host a store on this node. Without `store`, the node is only a client. */
export interface MepNodeOptions {
  /** Host a MemoryStore here; `true` for the defaults (standalone, exact search, 10000 entries). */
  store?: true | (Omit<MemoryStoreOptions, 'nodeId' | 'clock' | 'random' | 'logger' | 'replication'> & {
    /** Replicate over the node's own transport. */
    replication?: Omit<ReplicationOptions, 'transport'>;
  });
}

export interface MepLayer {
  /** MemoryStore.Put / MemoryStore.Query against whichever node serves them on this network. */
  readonly client: MemoryStoreClient;
  /** The store this node hosts, if any. */
  readonly store: MemoryStore | undefined;
}

interface NodeParts {
  id: string;
  transport: Transport;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
  onClose(fn: () => void | Promise<void>): void;
}

/** Attaches the MEP layer. Throws what `createMemoryStore` throws (`CONFIG_INVALID`) and the transport's errors. */
export async function attachMep(node: NodeParts, options: MepNodeOptions = {}): Promise<MepLayer> {
  const client = new MemoryStoreClient(node.transport, { nodeId: node.id, clock: node.clock, random: node.random });
  if (!options.store) return { client, store: undefined };
  const { replication, ...storeOptions } = options.store === true ? {} : options.store;
  const store = await createMemoryStore({
    ...storeOptions,
    nodeId: node.id,
    clock: node.clock,
    random: node.random,
    logger: node.logger,
    ...(replication ? { replication: { ...replication, transport: node.transport } } : {}),
  });
  let served: Subscription;
  try {
    served = await serveMemoryStore(node.transport, store, { nodeId: node.id, clock: node.clock, random: node.random });
  } catch (error) {
    await store.close();
    throw error;
  }
  node.onClose(async () => {
    await served.unsubscribe();
    await store.close();
  });
  return { client, store };
}
