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
 * Durable Raft state. Synchronous on purpose: a node must not send the messages of a Ready before its state is
 * stable, and one synchronous write + fsync per Ready is the group commit.
 */
export interface RaftStorage {
  /** @throws EcpsError `LOG_CORRUPT` when the stored state cannot be read back. */
  load(): PersistedState;
  /**
   * Persists `batch`: the snapshot (replacing the log), then the entries (dropping any stored entry at or after
   * `entries[0].index`), then the hard state. Durable on return when `sync` is true (per the storage's policy).
   * @throws EcpsError `IO_ERROR` when the write fails (the node must stop: its state is unknown).
   */
  save(batch: PersistBatch, sync: boolean): void;
  /** Stores a snapshot the node took itself and drops the entries it covers. */
  compact(snapshot: Snapshot): void;
  close(): void;
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

  save(batch: PersistBatch, _sync = true): void {
    if (batch.snapshot) this.installSnapshot(batch.snapshot, true);
    const first = batch.entries[0];
    if (first) {
      const keep = this.log.findIndex((e) => e.index >= first.index);
      if (keep >= 0) this.log.length = keep;
      this.log.push(...batch.entries);
    }
    if (batch.hardState) this.hardState = batch.hardState;
  }

  compact(snapshot: Snapshot): void {
    this.installSnapshot(snapshot, false);
  }

  close(): void {}

  private installSnapshot(snapshot: Snapshot, replaceLog: boolean): void {
    if (this.snapshot && this.snapshot.meta.index >= snapshot.meta.index) return;
    this.snapshot = snapshot;
    this.log = replaceLog ? [] : this.log.filter((e) => e.index > snapshot.meta.index);
  }
}
