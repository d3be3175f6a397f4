// SPDX-License-Identifier: Apache-2.0
// One node's replica: its documents, the sync engine that shares them over a PeatTransport, and (with an
// identity) signed changes. What applications and the part-2 packages (cells, hierarchy, deployment) build on.
import { cryptoRandom, silentLogger, systemClock } from '@ecps/core';
import type { Clock, Logger, RandomSource } from '@ecps/core';
import { PeatError } from './errors';
import type { Tombstone } from './frame';
import type { CollectionPolicy } from './policy';
import { actorIdFor } from './security/identity';
import type { NodeIdentity } from './security/identity';
import { ChangeVerifier } from './security/signed-changes';
import type { ChangeVerifierOptions } from './security/signed-changes';
import { RoleBasedAuthorizer } from './security/rbac';
import type { WriteAuthorizer } from './security/rbac';
import type { DocValue, LeaderRegister } from './store/document';
import { DocumentStore } from './store/document-store';
import type { ChangeObserver } from './store/document-store';
import type { StorageAdapter } from './store/storage';
import { SyncEngine } from './sync/sync-engine';
import type { RejectionEvent, SyncStats } from './sync/sync-engine';
import type { Topology } from './sync/topology';
import type { PeatTransport } from './transport/types';

export interface PeatReplicaOptions {
  readonly transport: PeatTransport;
  /** The node's key. Required for signed changes; without it the node id is the transport's. */
  readonly identity?: NodeIdentity;
  /**
   * Sign every local change and verify every received one (§8.4). Default: on when `identity` is given, with a
   * {@link RoleBasedAuthorizer} (every node a member) as RBAC; pass options to bring your own authorizer or
   * membership check.
   */
  readonly signedChanges?: boolean | ChangeVerifierOptions;
  /** Byte storage; absent = memory only. */
  readonly storage?: StorageAdapter;
  readonly policies?: Readonly<Record<string, CollectionPolicy>>;
  readonly maxLiveDocs?: number;
  readonly topology?: Topology;
  readonly cooldownMs?: number;
  readonly antiEntropyMs?: number;
  readonly relay?: boolean;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly logger?: Logger;
}

/**
 * A node's documents and their synchronisation. Reads and writes go to the local replica at once; peers receive
 * changes after the cooldown. `put` resolves once the change is stored locally (the acknowledgement).
 */
export class PeatReplica {
  readonly nodeId: string;
  readonly store: DocumentStore;
  readonly engine: SyncEngine;
  /** RBAC on writes (local and received), when signed changes are on. */
  readonly authorizer: WriteAuthorizer | undefined;
  private readonly transport: PeatTransport;

  private constructor(store: DocumentStore, engine: SyncEngine, transport: PeatTransport, authorizer: WriteAuthorizer | undefined) {
    this.store = store;
    this.engine = engine;
    this.transport = transport;
    this.nodeId = transport.nodeId;
    this.authorizer = authorizer;
  }

  private authorize(collection: string, id: string): void {
    this.authorizer?.authorize({ signer: this.nodeId, collection, id });
  }

  /**
   * Opens the store (replaying what `storage` holds) and builds the engine; call {@link start} to go online.
   * @throws PeatError `INVALID_ARGUMENT` when the identity and the transport name different nodes.
   */
  static async open(options: PeatReplicaOptions): Promise<PeatReplica> {
    const { transport, identity } = options;
    if (identity && identity.nodeId !== transport.nodeId) {
      throw new PeatError('INVALID_ARGUMENT', `identity ${identity.nodeId} does not match transport node ${transport.nodeId}`);
    }
    const signed = options.signedChanges ?? identity !== undefined;
    if (signed && !identity) throw new PeatError('INVALID_ARGUMENT', 'signed changes need an identity');
    const clock = options.clock ?? systemClock;
    const verifierOptions: ChangeVerifierOptions = typeof signed === 'object' ? signed : {};
    const authorizer = signed ? (verifierOptions.authorizer ?? new RoleBasedAuthorizer()) : undefined;
    // the store signs through the engine, which needs the store: tie them through a late-bound hook
    const hook: { sign?: (key: string, change: Uint8Array) => void } = {};
    const store = await DocumentStore.open({
      actorId: actorIdFor(transport.nodeId, options.random ?? cryptoRandom),
      nodeId: transport.nodeId,
      clock,
      ...(options.storage ? { storage: options.storage } : {}),
      ...(options.policies ? { policies: options.policies } : {}),
      ...(options.maxLiveDocs ? { maxLiveDocs: options.maxLiveDocs } : {}),
      onLocalChange: (key, change) => hook.sign?.(key, change),
    });
    const engine = new SyncEngine({
      store,
      transport,
      clock,
      logger: options.logger ?? silentLogger,
      ...(options.cooldownMs !== undefined ? { cooldownMs: options.cooldownMs } : {}),
      ...(options.antiEntropyMs !== undefined ? { antiEntropyMs: options.antiEntropyMs } : {}),
      ...(options.topology ? { topology: options.topology } : {}),
      ...(options.relay !== undefined ? { relay: options.relay } : {}),
      ...(signed && identity ? { signing: { identity, verifier: new ChangeVerifier({ ...verifierOptions, ...(authorizer ? { authorizer } : {}) }) } } : {}),
    });
    hook.sign = (key, change) => engine.signLocalChange(key, change);
    return new PeatReplica(store, engine, transport, authorizer);
  }

  /** Starts the transport and the sync engine. */
  async start(): Promise<void> {
    this.engine.start();
    await this.transport.start();
  }

  /** Stops syncing and the transport. Local data stays in the store. */
  async stop(): Promise<void> {
    this.engine.stop();
    await this.transport.stop();
  }

  get<T extends DocValue = DocValue>(collection: string, id: string): Promise<T | undefined> {
    return this.store.get<T>(collection, id);
  }
  /** Field-level write (only changed leaves). @throws PeatError `INVALID_ARGUMENT`, `CONFLICT` (tombstoned), `PERMISSION_DENIED` (RBAC). */
  async put(collection: string, id: string, value: DocValue): Promise<string[]> {
    this.authorize(collection, id);
    return this.store.put(collection, id, value);
  }
  /** A raw Automerge change (OR-set adds and removes, counters). @throws PeatError `PERMISSION_DENIED` (RBAC). */
  async change(collection: string, id: string, fn: (draft: Record<string, unknown>) => void): Promise<string[]> {
    this.authorize(collection, id);
    return this.store.change(collection, id, fn);
  }
  list(collection: string): Promise<string[]> {
    return this.store.list(collection);
  }
  getLeader(collection: string, id: string, field?: string): Promise<LeaderRegister | undefined> {
    return this.store.getLeader(collection, id, field);
  }
  async setLeader(collection: string, id: string, leader: LeaderRegister, field?: string): Promise<boolean> {
    this.authorize(collection, id);
    return this.store.setLeader(collection, id, leader, field);
  }
  /** Deletes by the collection's policy and spreads a tombstone to the peers its propagation allows. */
  async delete(collection: string, id: string, reason?: string): Promise<Tombstone | undefined> {
    this.authorize(collection, id);
    const t = await this.store.delete(collection, id, reason);
    if (t) await this.engine.spreadTombstone(t);
    return t;
  }
  /** Local and remote changes; remote ones carry the peer. */
  observe(observer: ChangeObserver): () => void {
    return this.store.observe(observer);
  }
  onRejected(handler: (e: RejectionEvent) => void): () => void {
    return this.engine.onRejected(handler);
  }
  setTopology(topology: Topology): void {
    this.engine.setTopology(topology);
  }
  peers(): string[] {
    return this.transport.peers();
  }
  get stats(): SyncStats {
    return this.engine.stats;
  }
}
