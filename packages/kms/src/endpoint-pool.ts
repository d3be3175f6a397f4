// SPDX-License-Identifier: Apache-2.0
// Calls into one of several endpoints (regions) of one service: a timeout per attempt, failover to the next endpoint
// when one stops answering, and retries with jittered exponential backoff, only for idempotent operations.
import { cryptoRandom, silentLogger, systemClock } from '@ecps/core';
import type { Clock, Logger, RandomSource } from '@ecps/core';
import type { KmsBackend, KmsCall, KmsOperation } from './backend';
import { KmsError, KmsUnavailableError } from './errors';

export interface RetryOptions {
  /** Attempts per call, failovers included (default 4). Non-idempotent calls get one, plus failover when unsent. */
  maxAttempts?: number;
  /** First backoff (default 50 ms); doubles per attempt up to `maxBackoffMs` (default 2000 ms); full jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface EndpointPoolOptions extends RetryOptions {
  /** An endpoint that has not answered within this is abandoned for the attempt (default 5000 ms). */
  attemptTimeoutMs?: number;
  /** How long an endpoint that did not answer is skipped before it is tried again (default 30 000 ms). */
  downForMs?: number;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

interface Endpoint {
  readonly backend: KmsBackend;
  downUntil: number;
}

/**
 * The endpoints of one service, in order of preference. `run` sends an operation to the first endpoint not marked
 * down; an endpoint that does not answer (refused, reset, or silent past `attemptTimeoutMs`) is marked down for
 * `downForMs` and the call moves on to the next at once, so a region failing costs at most one attempt timeout, and
 * later calls go straight to the healthy endpoint. Throttling and unavailability of all endpoints are retried with
 * backoff, and only for idempotent operations; a non-idempotent one (key creation) moves to another endpoint only
 * when the request provably never left.
 */
export class EndpointPool {
  private readonly endpoints: Endpoint[];
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly attemptTimeoutMs: number;
  private readonly downForMs: number;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(backends: readonly KmsBackend[], options: EndpointPoolOptions = {}) {
    if (backends.length === 0) throw new KmsError('CONFIG_INVALID', 'a KMS key provider needs at least one endpoint');
    const kinds = new Set(backends.map((b) => b.kind));
    if (kinds.size !== 1) throw new KmsError('CONFIG_INVALID', `endpoints of one provider must be of one service, not ${[...kinds].join(', ')}`);
    this.endpoints = backends.map((backend) => ({ backend, downUntil: 0 }));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.logger = options.logger ?? silentLogger;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 5000;
    this.downForMs = options.downForMs ?? 30_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.initialBackoffMs = options.initialBackoffMs ?? 50;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
  }

  /** The service kind of every endpoint. */
  get kind(): string {
    return (this.endpoints[0] as Endpoint).backend.kind;
  }

  /** The preferred backend (for what does not depend on the endpoint, such as the algorithms offered). */
  get primary(): KmsBackend {
    return (this.endpoints[0] as Endpoint).backend;
  }

  /** Endpoints currently skipped after failing to answer (for health reporting). */
  get down(): string[] {
    const now = this.clock.monotonic();
    return this.endpoints.filter((e) => e.downUntil > now).map((e) => e.backend.endpoint);
  }

  /**
   * Runs `fn` on an endpoint as described on the class. @throws the last {@link KmsError} when attempts run out, at
   * once for errors that retrying cannot fix (permission, disabled key, not found, bad input).
   */
  async run<T>(operation: KmsOperation, idempotent: boolean, fn: (backend: KmsBackend, call: KmsCall) => Promise<T>): Promise<T> {
    const tried = new Set<Endpoint>();
    for (let attempt = 1; ; attempt++) {
      const endpoint = this.pick(tried);
      tried.add(endpoint);
      let error: KmsError;
      try {
        return await this.attempt(endpoint, operation, fn);
      } catch (caught) {
        error = caught as KmsError;
      }
      const unavailable = error instanceof KmsUnavailableError;
      if (unavailable) endpoint.downUntil = this.clock.monotonic() + this.downForMs;
      const mayRepeat = idempotent ? error.retryable : unavailable && (error as KmsUnavailableError).notSent;
      if (!mayRepeat || attempt >= (idempotent ? this.maxAttempts : this.endpoints.length)) throw error;
      this.logger.warn('kms: attempt failed, trying again', {
        kind: this.kind,
        endpoint: endpoint.backend.endpoint,
        operation,
        code: error.code,
        attempt,
      });
      // another endpoint that has not failed yet is tried at once; otherwise wait before asking again
      if (!(unavailable && this.endpoints.some((e) => !tried.has(e) && e.downUntil <= this.clock.monotonic()))) {
        await this.sleep(this.backoff(attempt));
      }
    }
  }

  /** The first endpoint that is up and not yet tried in this call; else the one that comes back soonest. */
  private pick(tried: ReadonlySet<Endpoint>): Endpoint {
    const now = this.clock.monotonic();
    const up = this.endpoints.find((e) => e.downUntil <= now && !tried.has(e)) ?? this.endpoints.find((e) => e.downUntil <= now);
    if (up) return up;
    return this.endpoints.reduce((a, b) => (b.downUntil < a.downUntil ? b : a));
  }

  private attempt<T>(endpoint: Endpoint, operation: KmsOperation, fn: (backend: KmsBackend, call: KmsCall) => Promise<T>): Promise<T> {
    const { backend } = endpoint;
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = this.clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        controller.abort();
        reject(
          new KmsUnavailableError(`${backend.kind} endpoint ${backend.endpoint} did not answer ${operation} within ${this.attemptTimeoutMs} ms`, {
            details: { kind: backend.kind, endpoint: backend.endpoint, operation, reason: 'timeout' },
          }),
        );
      }, this.attemptTimeoutMs);
      fn(backend, { signal: controller.signal }).then(
        (value) => {
          if (settled) return;
          settled = true;
          this.clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          this.clock.clearTimeout(timer);
          reject(error instanceof KmsError ? error : backend.classify(error, operation));
        },
      );
    });
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (attempt - 1));
    return this.random.float() * ceiling;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  /** Closes every backend. */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.backend.close?.()));
  }
}
