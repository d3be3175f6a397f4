// SPDX-License-Identifier: Apache-2.0
// The contract between @ecps/tasks and a coordination backend. `KvClient` of @ecps/raft implements it on our Raft
// key-value store; an etcd backend implements it with etcd's KV, transactions and leases. A deployment picks the
// backend by configuration; the task table and leader election above it do not change.

/** Options of a write. */
export interface CoordinationWriteOptions {
  /** Attach the key to this lease: the key is deleted when the lease expires or is revoked. */
  readonly lease?: bigint;
}

/**
 * A linearizable key-value store with atomic compare-and-set and leases.
 *
 * What an implementation guarantees:
 * - every call is linearizable (a read sees every write that completed before it started);
 * - `compareAndSet` is atomic; `expected` undefined means "the key is absent", `value` undefined means "delete the
 *   key". It resolves true only if this call made the change. It may resolve false for a change it made when it had
 *   to retry internally (an etcd transaction re-sent after a lost reply, say): callers re-read on false;
 * - a lease lives `ttlMs` after its grant or last successful `keepAlive` (at least; the store may extend it, e.g.
 *   across a leader change), then every key attached to it is deleted atomically;
 * - a call that rejects with `TIMEOUT` may or may not have taken effect.
 *
 * Errors: `EcpsError` with `TIMEOUT` (no answer in time, outcome unknown), `NOT_FOUND` (an expired or unknown
 * lease), `PERMISSION_DENIED`, `INVALID_ARGUMENT`; `CLOSED` after the store is closed.
 */
export interface CoordinationStore {
  get(key: string): Promise<{ readonly value: Uint8Array | undefined }>;
  /** The keys starting with `prefix`, in key order, at most `limit` (0 = the store's maximum). */
  list(prefix: string, limit?: number): Promise<readonly { readonly key: string; readonly value: Uint8Array }[]>;
  compareAndSet(key: string, expected: Uint8Array | undefined, value: Uint8Array | undefined, options?: CoordinationWriteOptions): Promise<boolean>;
  /** A new lease of `ttlMs`. */
  grantLease(ttlMs: number): Promise<bigint>;
  /** Renews a lease; resolves false when it already expired (its keys are gone). */
  keepAlive(lease: bigint): Promise<boolean>;
  /** Ends a lease now and deletes its keys. */
  revokeLease(lease: bigint): Promise<void>;
}
