// SPDX-License-Identifier: Apache-2.0
// The CoordinationStore of @ecps/tasks on an existing etcd cluster, through the `etcd3` client: linearizable ranges,
// compare-and-set as one etcd transaction, and etcd's own leases (their expiry deletes the keys attached to them).
import { EcpsError, isEcpsError, systemClock } from '@ecps/core';
import type { Clock } from '@ecps/core';
import type { CoordinationStore, CoordinationWriteOptions } from '@ecps/tasks';
import { Etcd3 } from 'etcd3';
import type { IOptions, Namespace } from 'etcd3';
import { toEcpsError } from './errors';

export interface EtcdCoordinationStoreOptions {
  /** Client URLs of the etcd members (`http://127.0.0.1:2379`). Required unless `client` is given. */
  readonly endpoints?: readonly string[];
  /** Further options of the client this store makes (TLS `credentials`, `auth`, `grpcOptions`, `dialTimeout`). */
  readonly etcd?: Omit<IOptions, 'hosts'>;
  /** An etcd3 client to share instead of making one; `close()` leaves it open. */
  readonly client?: Etcd3;
  /** Prefix of every key this store reads and writes (an etcd3 namespace), so deployments can share a cluster. */
  readonly namespace?: string;
  /** Deadline of each call, including the client's retries on other members. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Most rows one `list` returns (also when it asks for 0 = the maximum). Default 10 000. */
  readonly maxList?: number;
  /** Sets the calls' deadlines. */
  readonly clock?: Clock;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_LIST = 10_000;

/**
 * A {@link CoordinationStore} on etcd. Reads are linearizable (etcd's default, not serializable); `compareAndSet` is
 * one transaction: compare the key's value, or that it does not exist, then put (attached to
 * the lease when given) or delete; leases are etcd leases of `ceil(ttlMs / 1000)` seconds, which etcd may raise to its
 * minimum (1.5 × its election timeout, 2 s by default).
 *
 * The etcd3 client retries a call on another member after a connection failure, so a transaction whose answer was
 * lost can run twice: the second run then reports false for the change the first made. That is what the
 * `CoordinationStore` contract allows (callers re-read on false; `TaskTable` and `LeaderElection` do).
 *
 * Errors (`EcpsError`): `TIMEOUT` when no member answered in time or a connection failed (outcome unknown),
 * `NOT_FOUND` for a write attached to an expired or unknown lease, `PERMISSION_DENIED` / `UNAUTHENTICATED` from
 * etcd's auth, `INVALID_ARGUMENT` (a ttl that is not positive, a request etcd refuses as invalid or too large),
 * `RESOURCE_EXHAUSTED` (etcd's quota), `CLOSED` after `close()`.
 */
export class EtcdCoordinationStore implements CoordinationStore {
  private readonly client: Etcd3;
  private readonly ownsClient: boolean;
  private readonly kv: Namespace;
  private readonly timeoutMs: number;
  private readonly maxList: number;
  private readonly clock: Clock;
  private closed = false;

  /** @throws EcpsError `INVALID_ARGUMENT` without endpoints or client, or with a timeout or maxList under 1. */
  constructor(options: EtcdCoordinationStoreOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxList = options.maxList ?? DEFAULT_MAX_LIST;
    if (!(this.timeoutMs >= 1) || !(this.maxList >= 1)) throw new EcpsError('INVALID_ARGUMENT', 'timeoutMs and maxList must be at least 1');
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      if (!options.endpoints || options.endpoints.length === 0) throw new EcpsError('INVALID_ARGUMENT', 'an etcd store needs endpoints or a client');
      this.client = new Etcd3({ ...options.etcd, hosts: [...options.endpoints] });
      this.ownsClient = true;
    }
    this.kv = options.namespace ? this.client.namespace(options.namespace) : this.client;
    this.clock = options.clock ?? systemClock;
  }

  /** A linearizable read of one key. */
  async get(key: string): Promise<{ readonly value: Uint8Array | undefined }> {
    const value = await this.call('get', () => this.kv.get(key).options(this.deadline()).buffer());
    return { value: value ?? undefined };
  }

  /** A linearizable read of the keys under `prefix`, in key order, at most `limit` (0: `maxList`). */
  async list(prefix: string, limit = 0): Promise<readonly { readonly key: string; readonly value: Uint8Array }[]> {
    const max = limit > 0 ? Math.min(limit, this.maxList) : this.maxList;
    const rows = await this.call('list', () => {
      const range = prefix === '' ? this.kv.getAll().all() : this.kv.getAll().prefix(prefix);
      return range.sort('Key', 'Ascend').limit(max).options(this.deadline()).exec();
    });
    return rows.kvs.map((kv) => ({ key: kv.key.toString('utf8'), value: kv.value }));
  }

  /** One etcd transaction; resolves true when it applied (see the class comment for a retried transaction). */
  async compareAndSet(key: string, expected: Uint8Array | undefined, value: Uint8Array | undefined, options?: CoordinationWriteOptions): Promise<boolean> {
    const result = await this.call('compareAndSet', () => {
      // a value comparison fails on a missing key in etcd (even against an empty value); "absent" is "never created"
      const txn = expected === undefined ? this.kv.if(key, 'Create', '==', 0) : this.kv.if(key, 'Value', '==', Buffer.from(expected));
      const write =
        value === undefined
          ? this.kv.delete().key(key)
          : options?.lease !== undefined
            ? this.kv.put(key).value(Buffer.from(value)).lease(options.lease.toString())
            : this.kv.put(key).value(Buffer.from(value));
      return txn.then(write).options(this.deadline()).commit();
    });
    return result.succeeded;
  }

  /**
   * A new etcd lease of at least `ttlMs` (whole seconds, raised to etcd's minimum).
   * @throws EcpsError `INVALID_ARGUMENT` for a ttl that is not positive.
   */
  async grantLease(ttlMs: number): Promise<bigint> {
    if (!(ttlMs > 0)) throw new EcpsError('INVALID_ARGUMENT', 'a lease needs a positive ttl');
    const TTL = Math.ceil(ttlMs / 1000);
    const granted = await this.call('grantLease', () => this.kv.leaseClient.leaseGrant({ TTL }, this.deadline()));
    if (granted.error) throw new EcpsError('REMOTE_ERROR', `etcd refused a lease: ${granted.error}`);
    return BigInt(granted.ID);
  }

  /** Renews a lease for its full ttl (one request on etcd's keep-alive stream); false when it already expired. */
  async keepAlive(lease: bigint): Promise<boolean> {
    return this.call('keepAlive', async () => {
      const stream = await this.kv.leaseClient.leaseKeepAlive(this.deadline());
      try {
        const answer = await new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.write({ ID: lease.toString() });
        });
        return Number(answer.TTL) > 0;
      } finally {
        stream.on('error', () => undefined); // the cancellation of the ended stream
        stream.end();
      }
    });
  }

  /** Ends a lease now, deleting its keys; a lease that already expired is not an error (its keys are gone). */
  async revokeLease(lease: bigint): Promise<void> {
    try {
      await this.call('revokeLease', () => this.kv.leaseClient.leaseRevoke({ ID: lease.toString() }, this.deadline()));
    } catch (error) {
      if (!isEcpsError(error, 'NOT_FOUND')) throw error;
    }
  }

  /** Closes the client this store made (not one it was given); later calls fail with `CLOSED`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.client.close();
  }

  private deadline(): { deadline: number } {
    return { deadline: this.clock.now() + this.timeoutMs };
  }

  private async call<T>(method: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new EcpsError('CLOSED', 'the etcd store is closed');
    try {
      return await run();
    } catch (error) {
      throw toEcpsError(error, method);
    }
  }
}
