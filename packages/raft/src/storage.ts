// SPDX-License-Identifier: Apache-2.0
// Where a node's durable Raft state lives, and the in-memory implementation used by tests and the simulator.
import type { Entry, HardState, Snapshot } from './types';

/** What a node needs at start-up. */
export interface PersistedState {
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
}

/** The part of a Ready a storage persists. */
export interface PersistBatch {
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
}

/**
 * Durable Raft state. Saves are ordered: each is applied after the previous one, and their promises resolve in
 * order. This is the contract a storage (or an etcd-style WAL) implements for {@link RaftNode}.
 */
export interface RaftStorage {
  /** Called once at start-up. @throws EcpsError `LOG_CORRUPT` when the stored state cannot be read back. */
  load(): PersistedState;
  /**
   * Persists `batch`: the snapshot (replacing the log), then the entries (dropping any stored entry at or after
   * `entries[0].index`), then the hard state. The write itself happens before `save` returns (later saves and loads
   * see it); the promise resolves once it is durable when `sync` is true (per the storage's policy), at once
   * otherwise.
   * @throws EcpsError `IO_ERROR` (rejection) when the write fails: the node must stop, its state is unknown.
   */
  save(batch: PersistBatch, sync: boolean): Promise<void>;
  /** Stores a snapshot the node took itself and drops the entries it covers, in the background. */
  compact(snapshot: Snapshot): Promise<void>;
  /** Waits for pending writes and releases the files. */
  close(): Promise<void>;
}

/**
 * Keeps everything in memory. The object outliving a node models a disk that survives the node's crash, which is
 * how the simulator restarts nodes.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState | undefined;
  private snapshot: Snapshot | undefined;
  private log: Entry[] = [];

  load(): PersistedState {
    return {
      ...(this.hardState ? { hardState: this.hardState } : {}),
      ...(this.snapshot ? { snapshot: this.snapshot } : {}),
      entries: [...this.log],
    };
  }

  save(batch: PersistBatch, _sync = true): Promise<void> {
    if (batch.snapshot) this.installSnapshot(batch.snapshot, true);
    const first = batch.entries[0];
    if (first) {
      const keep = this.log.findIndex((e) => e.index >= first.index);
      if (keep >= 0) this.log.length = keep;
      this.log.push(...batch.entries);
    }
    if (batch.hardState) this.hardState = batch.hardState;
    return Promise.resolve();
  }

  compact(snapshot: Snapshot): Promise<void> {
    this.installSnapshot(snapshot, false);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private installSnapshot(snapshot: Snapshot, replaceLog: boolean): void {
    if (this.snapshot && this.snapshot.meta.index >= snapshot.meta.index) return;
    this.snapshot = snapshot;
    this.log = replaceLog ? [] : this.log.filter((e) => e.index > snapshot.meta.index);
  }
}
