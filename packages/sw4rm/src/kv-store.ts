// SPDX-License-Identifier: Apache-2.0
// The durable key-value contract every SW4RM service persists through: an answer that reports a change is sent only
// after the commit holding it resolved. `@ecps/sw4rm-store` implements it on LevelDB; `memoryKvStore` is for tests
// and deployments that accept losing state on restart.
import { EcpsError } from '@ecps/core';

/** One change of an atomic commit. */
export type KvOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** A durable, ordered key-value store. */
export interface KvStore {
  /** Every entry whose key starts with `prefix`, in ascending key order. @throws EcpsError IO_ERROR. */
  load(prefix: string): Promise<[string, Uint8Array][]>;
  /**
   * Applies `ops` atomically; resolves once they are durable (fsync'd). Commits apply in call order.
   * `durable: false` lets bookkeeping that may be lost in a crash skip the wait for fsync.
   * @throws EcpsError IO_ERROR when the write fails or the store is closed.
   */
  commit(ops: readonly KvOp[], durable?: boolean): Promise<void>;
  /** Waits for queued commits, then closes. Idempotent. */
  close(): Promise<void>;
  /** Crash tests: drop what is not yet written, never answer those commits, release the store (as kill -9 would). */
  abandon?(): Promise<void>;
}

/** A store kept in memory only (state is lost with the process). */
export function memoryKvStore(): KvStore {
  const data = new Map<string, Uint8Array>();
  let closed = false;
  return {
    async load(prefix) {
      return [...data].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    },
    async commit(ops) {
      if (closed) throw new EcpsError('IO_ERROR', 'store is closed');
      for (const op of ops) {
        if (op.type === 'put') data.set(op.key, op.value);
        else data.delete(op.key);
      }
    },
    async close() {
      closed = true;
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * JSON records of one kind under `<namespace>/`: a service's durable map from id to a JSON-safe value.
 * `put`/`del` return ops to commit (alone or together with other ops, atomically).
 */
export class KvJsonTable<T> {
  constructor(
    private readonly store: KvStore,
    readonly namespace: string,
  ) {}

  /** Every record, in key order. @throws EcpsError LOG_CORRUPT for a record that is not JSON. */
  async load(): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const prefix = `${this.namespace}/`;
    for (const [key, value] of await this.store.load(prefix)) {
      try {
        out.set(key.slice(prefix.length), JSON.parse(decoder.decode(value)) as T);
      } catch (err) {
        throw new EcpsError('LOG_CORRUPT', `record ${key} is not JSON`, { cause: err });
      }
    }
    return out;
  }

  put(id: string, value: T): KvOp {
    return { type: 'put', key: `${this.namespace}/${id}`, value: encoder.encode(JSON.stringify(value)) };
  }

  del(id: string): KvOp {
    return { type: 'del', key: `${this.namespace}/${id}` };
  }

  /** Commits `put(id, value)`. */
  save(id: string, value: T): Promise<void> {
    return this.store.commit([this.put(id, value)]);
  }

  /** Commits `del(id)`. */
  remove(id: string): Promise<void> {
    return this.store.commit([this.del(id)]);
  }
}
