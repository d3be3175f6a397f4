// SPDX-License-Identifier: Apache-2.0
// Data keys for envelope encryption: generated and wrapped by the KMS, used locally for a bounded time and number of
// messages, replaced ahead of expiry in the background so that no message waits for the KMS, and wiped when retired.
import { createHash } from 'node:crypto';
import { silentLogger, systemClock } from '@ecps/core';
import type { Clock, KeyProvider, Logger } from '@ecps/core';
import type { GeneratedDataKey } from './backend';
import { KmsError } from './errors';

/** A KeyProvider able to make data keys: a {@link KmsKeyProvider}, or any provider with `wrapKey`/`unwrapKey`. */
export type DataKeySource = KeyProvider & { generateDataKey?(kekId: string): Promise<GeneratedDataKey> };

/** One data key in use. The cache zeroes `key` of its current key at {@link DataKeyCache.close}. */
export interface DataKey {
  /** `dk-` + 32 hex characters of SHA-256 of the wrapped key: names it in logs and sealed messages. */
  readonly id: string;
  readonly key: Uint8Array;
  /** What a reader needs to get `key` back from the KMS (an eaplog `data_key` header value). */
  readonly wrapped: { readonly kms: string; readonly kek: string; readonly wrapped: Uint8Array };
}

export interface DataKeyCacheOptions {
  /** The KMS key that wraps the data keys. */
  kekId: string;
  /** How long one data key encrypts (default 5 minutes). */
  maxAgeMs?: number;
  /** How many messages (log records, sealed messages) one data key encrypts (default 2^20, at most 2^32). */
  maxUses?: number;
  /** Fraction of age or uses after which the next key is fetched in the background (default 0.75). */
  refreshAt?: number;
  /** Unwrapped keys kept for reading (default 256), each for at most `maxAgeMs`. */
  maxUnwrapped?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Current {
  readonly key: DataKey;
  readonly expiresAt: number;
  readonly refreshAfter: number;
  uses: number;
}

/**
 * The data keys of one writer. {@link DataKeyCache.take} returns the current key and counts one use; the next key is
 * generated in the background once the current one has reached `refreshAt` of its age or uses (and by a timer,
 * so an idle writer also has a fresh key ready), so in steady state `take` never waits for the KMS. It waits only for
 * the very first key, or when the KMS could not supply a successor before the current key ran out: a key is never
 * used past `maxAgeMs` or `maxUses`. A retired key is dropped, not zeroed: a writer may still hold it for records
 * it has queued.
 *
 * {@link DataKeyCache.unwrap} is the reading side: unwrapped keys are cached (bounded count and age) so reading
 * many messages under one data key costs one KMS call.
 *
 * Errors: whatever the provider throws for generation or unwrapping (`UNAVAILABLE`, `PERMISSION_DENIED`,
 * `KEY_DISABLED`, ...); `CLOSED` after {@link DataKeyCache.close}; `CONFIG_INVALID` for bad limits.
 */
export class DataKeyCache {
  private current: Current | undefined;
  private next: Promise<Current> | undefined;
  private refreshTimer: ReturnType<Clock['setTimeout']> | undefined;
  private readonly unwrapped = new Map<string, { key: Promise<Uint8Array>; expiresAt: number }>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  private readonly refreshAt: number;
  private readonly maxUnwrapped: number;
  private closed = false;
  private generated = 0;

  constructor(
    private readonly provider: DataKeySource,
    private readonly options: DataKeyCacheOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    this.maxUses = options.maxUses ?? 2 ** 20;
    this.refreshAt = options.refreshAt ?? 0.75;
    this.maxUnwrapped = options.maxUnwrapped ?? 256;
    if (!(this.maxAgeMs > 0) || !Number.isSafeInteger(this.maxUses) || this.maxUses < 1 || this.maxUses > 2 ** 32) {
      throw new KmsError('CONFIG_INVALID', 'maxAgeMs must be > 0 and maxUses an integer in [1, 2^32] (the AES-GCM random-nonce bound)');
    }
    if (!(this.refreshAt > 0 && this.refreshAt <= 1)) throw new KmsError('CONFIG_INVALID', 'refreshAt must be in (0, 1]');
  }

  /** The KMS key wrapping the data keys. */
  get kekId(): string {
    return this.options.kekId;
  }

  /** Data keys generated so far (a KMS call each). */
  get generatedCount(): number {
    return this.generated;
  }

  /**
   * The data key to encrypt one message with, counting the use. Resolves at once while a valid key is cached; see
   * the class for when it waits.
   */
  async take(): Promise<DataKey> {
    if (this.closed) throw new KmsError('CLOSED', 'data key cache is closed');
    let current = this.current;
    while (!current || current.uses >= this.maxUses || this.clock.monotonic() >= current.expiresAt) {
      current = await this.successor();
      if (this.closed) throw new KmsError('CLOSED', 'data key cache is closed');
    }
    current.uses++;
    if (current.uses >= this.refreshAfterUses() || this.clock.monotonic() >= current.refreshAfter) this.prefetch();
    return current.key;
  }

  /** Gets a data key back from its wrapped form (cached). @throws what the provider's `unwrapKey` throws. */
  unwrap(kekId: string, wrapped: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new KmsError('CLOSED', 'data key cache is closed'));
    const id = dataKeyId(wrapped) + kekId;
    const now = this.clock.monotonic();
    const hit = this.unwrapped.get(id);
    if (hit && hit.expiresAt > now) return hit.key;
    if (hit) this.unwrapped.delete(id);
    if (!this.provider.unwrapKey) return Promise.reject(new KmsError('MECHANISM_UNSUPPORTED', `${this.provider.kind} provider cannot unwrap keys`));
    while (this.unwrapped.size >= this.maxUnwrapped) this.unwrapped.delete(this.unwrapped.keys().next().value as string);
    const key = this.provider.unwrapKey(kekId, wrapped);
    this.unwrapped.set(id, { key, expiresAt: now + this.maxAgeMs });
    key.catch(() => this.unwrapped.delete(id));
    return key;
  }

  /**
   * Forgets every key; later calls fail with `CLOSED`. The current key's bytes are zeroed, so close the writers
   * using it first.
   */
  close(): void {
    this.closed = true;
    if (this.refreshTimer !== undefined) this.clock.clearTimeout(this.refreshTimer);
    this.current?.key.key.fill(0);
    this.current = undefined;
    this.unwrapped.clear();
  }

  private refreshAfterUses(): number {
    return Math.max(1, Math.floor(this.maxUses * this.refreshAt));
  }

  /** The key that replaces the current one (the prefetched one when ready), installed as current. */
  private async successor(): Promise<Current> {
    for (;;) {
      this.prefetch();
      const pending = this.next as Promise<Current>;
      const next = await pending;
      if (this.current === next) return next; // a concurrent take installed it
      if (this.next === pending) this.next = undefined;
      // a key fetched ahead of time ages from its creation: one that expired while waiting is not installed
      if (this.clock.monotonic() < next.expiresAt) {
        this.current = next;
        this.scheduleRefresh(next);
        return next;
      }
    }
  }

  private prefetch(): void {
    if (this.next || this.closed) return;
    const next = this.generate();
    this.next = next;
    next.catch((error: unknown) => {
      if (this.next === next) this.next = undefined;
      this.logger.warn('kms: could not generate the next data key', { kek: this.options.kekId, code: (error as KmsError).code });
    });
  }

  private async generate(): Promise<Current> {
    const { kekId } = this.options;
    let made: GeneratedDataKey;
    if (this.provider.generateDataKey) made = await this.provider.generateDataKey(kekId);
    else if (this.provider.wrapKey) {
      const plaintext = new Uint8Array(globalThis.crypto.getRandomValues(new Uint8Array(32)));
      made = { plaintext, wrapped: await this.provider.wrapKey(kekId, plaintext) };
    } else throw new KmsError('MECHANISM_UNSUPPORTED', `${this.provider.kind} provider cannot wrap keys`);
    this.generated++;
    const start = this.clock.monotonic();
    return {
      key: { id: dataKeyId(made.wrapped), key: made.plaintext, wrapped: { kms: this.provider.kind, kek: kekId, wrapped: made.wrapped } },
      expiresAt: start + this.maxAgeMs,
      refreshAfter: start + this.maxAgeMs * this.refreshAt,
      uses: 0,
    };
  }

  private scheduleRefresh(current: Current): void {
    if (this.refreshTimer !== undefined) this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.current === current) this.prefetch();
    }, Math.max(0, current.refreshAfter - this.clock.monotonic()));
  }
}

/** `dk-` + the first 32 hex characters of SHA-256(wrapped). */
export function dataKeyId(wrapped: Uint8Array): string {
  return `dk-${createHash('sha256').update(wrapped).digest('hex').slice(0, 32)}`;
}
