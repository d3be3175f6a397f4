// SPDX-License-Identifier: Apache-2.0
// `ECPS_COORDINATION`: the task table and leader elections of @ecps/tasks on the configured backend. Both backends
// implement the same CoordinationStore contract; which one is used is a setting, and its package is imported only
// when configured.
import { LeaderElection, TaskTable, type CoordinationStore } from '@ecps/tasks';
import type { Clock, Logger, RandomSource, Transport } from '@ecps/core';
import { BACKEND_PACKAGES, loadBackend, type BackendModule, type ImportBackend } from './backends';
import type { NodeSettings } from './settings';

/** Options of {@link NodeCoordination.election}. */
export interface NodeElectionOptions {
  /** This candidate's id. Default: the node id. */
  readonly candidate?: string;
  /** Lease time to live. Default 5000 ms. */
  readonly ttlMs?: number;
}

/**
 * `node.coordination`: the task table and leader elections on the backend `ECPS_COORDINATION` names. Every key lives
 * under `ECPS_COORDINATION_NAMESPACE` (`<namespace>tasks/`, `<namespace>elections/`).
 */
export interface NodeCoordination {
  /** `raft` (@ecps/raft's `KvClient`) or `etcd` (@ecps/coordination-etcd's `EtcdCoordinationStore`). */
  readonly backend: 'raft' | 'etcd';
  /** The store itself: linearizable reads, compare-and-set and leases (see `CoordinationStore` of @ecps/tasks). */
  readonly store: CoordinationStore;
  /** The fleet's task table: a task is assigned to at most one agent per epoch. */
  readonly tasks: TaskTable;
  /**
   * A leader election for `name` with this node as candidate (call `campaign()` on it). Closed (resigned) with the
   * node. @throws EcpsError `INVALID_ARGUMENT` for an empty name or a ttl under 100 ms.
   */
  election(name: string, options?: NodeElectionOptions): LeaderElection;
}

type ClosableStore = CoordinationStore & { close(): void | Promise<void> };

/** Imports the configured backend's package (before anything is opened, so a missing one is reported first). */
export async function loadCoordinationBackend(s: NodeSettings, importBackend: ImportBackend | undefined): Promise<BackendModule | undefined> {
  const backend = s.coordination.backend;
  if (backend === 'none') return undefined;
  return loadBackend('ECPS_COORDINATION', backend, BACKEND_PACKAGES.coordination[backend], importBackend);
}

function openStore(s: NodeSettings, module: BackendModule, transport: Transport, context: { clock?: Clock | undefined; random?: RandomSource | undefined }): ClosableStore {
  const timeoutMs = s.coordination.timeoutMs;
  const clock = context.clock ? { clock: context.clock } : {};
  if (s.coordination.backend === 'etcd') {
    const Store = module.get<(...args: never[]) => unknown>('EtcdCoordinationStore') as unknown as new (o: object) => ClosableStore;
    const auth = s.etcd.username === undefined ? {} : { etcd: { auth: { username: s.etcd.username, password: s.etcd.password ?? '' } } };
    return new Store({ endpoints: s.etcd.endpoints, timeoutMs, ...auth, ...clock });
  }
  const KvClient = module.get<(...args: never[]) => unknown>('KvClient') as unknown as new (o: object) => ClosableStore;
  // requests go out as this node (with the trust layer on, the source its messages are signed as)
  return new KvClient({
    transport,
    clusterId: s.raft.clusterId,
    members: s.raft.members,
    nodeId: s.nodeId,
    deadlineMs: timeoutMs,
    attemptTimeoutMs: Math.min(1_000, timeoutMs),
    ...clock,
    ...(context.random ? { random: context.random } : {}),
  });
}

/**
 * Opens the store on the node's transport (for `raft`) and reads once through it, so that a backend that cannot be
 * reached fails the start instead of the first call. Resolves the coordination and its release function.
 * @throws the store's errors (`TIMEOUT` when no member answered within `ECPS_COORDINATION_TIMEOUT_MS`); the store is
 * then closed.
 */
export async function openCoordination(
  s: NodeSettings,
  module: BackendModule,
  transport: Transport,
  context: { clock?: Clock | undefined; random?: RandomSource | undefined; logger?: Logger | undefined },
): Promise<{ coordination: NodeCoordination; close: () => Promise<void> }> {
  const store = openStore(s, module, transport, context);
  const prefix = s.coordination.namespace;
  try {
    await store.get(`${prefix}tasks/`);
  } catch (error) {
    await store.close();
    throw error;
  }
  const elections = new Set<LeaderElection>();
  const coordination: NodeCoordination = {
    backend: s.coordination.backend as 'raft' | 'etcd',
    store,
    tasks: new TaskTable({ store, prefix: `${prefix}tasks/`, ...(context.clock ? { clock: context.clock } : {}) }),
    election(name, options = {}) {
      const election = new LeaderElection({
        store,
        name,
        candidate: options.candidate ?? s.nodeId,
        prefix: `${prefix}elections/`,
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
        ...(context.clock ? { clock: context.clock } : {}),
        ...(context.logger ? { logger: context.logger } : {}),
      });
      elections.add(election);
      return election;
    },
  };
  return {
    coordination,
    close: async () => {
      await Promise.all([...elections].map((e) => e.close()));
      await store.close();
    },
  };
}
