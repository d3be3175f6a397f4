// SPDX-License-Identifier: Apache-2.0
// The key-value client: one channel to the members (by default an ECPS transport with one reply subscription),
// pipelined calls, writes in a session with sequence numbers so that a retry is applied once.
import { EcpsError, cryptoRandom, eventTime, isEcpsError, nodeSource, rpcTopics, systemClock, uuidv4 } from '@ecps/core';
import type { Clock, EcpsErrorCode, EcpsEvent, RandomSource, Subscription, Transport } from '@ecps/core';
import { KvRequest, KvResponse } from '@ecps/proto/ext/v1';
import type { KvCommand, KvResult } from '@ecps/proto/ext/v1';
import { emptyCommand } from './kv-endpoint';
import { KV_REQUEST_TYPE, KV_RESPONSE_TYPE, kvService } from './kv-service';
import { assertTopicId } from './transport-network';
import type { NodeId } from './types';

/**
 * How a {@link KvClient} reaches the members: encoded `KvRequest`s out to one member, encoded `KvResponse`s back.
 * {@link transportKvChannel} is the default; `@ecps/raft-tcp` has a direct TCP one.
 */
export interface KvChannel {
  /** Starts delivering answers; called once, before the first send. */
  open(onResponse: (response: Uint8Array) => void): Promise<void>;
  /** Sends a request to `member`. Rejects (or throws) when it cannot be sent; a lost request just gets no answer. */
  send(member: NodeId, request: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * The key-value protocol on an ECPS transport: requests published to each member's `<service>/request` with this
 * client's correlation id; answers on `response/<correlation id>`, one subscription for the client's life.
 * `nodeId` is the requests' source (with the trust layer on, it must be the transport's identity).
 */
export function transportKvChannel(options: { transport: Transport; clusterId: string; nodeId: string; correlationId: string; clock?: Clock; random?: RandomSource }): KvChannel {
  const { transport, clusterId, correlationId } = options;
  assertTopicId('clusterId', clusterId);
  const clock = options.clock ?? systemClock;
  const source = nodeSource(options.nodeId);
  let sub: Subscription | undefined;
  return {
    async open(onResponse) {
      sub = await transport.subscribe(
        rpcTopics.reply(correlationId),
        (event) => {
          if (event.type === KV_RESPONSE_TYPE) onResponse(event.data);
        },
        { qos: 0 },
      );
    },
    send(member, request) {
      const event: EcpsEvent = {
        id: uuidv4(options.random),
        source,
        type: KV_REQUEST_TYPE,
        time: eventTime(clock.now()),
        datacontenttype: 'application/protobuf',
        data: request,
        extensions: { correlationid: correlationId },
      };
      return transport.publish(rpcTopics.request(kvService(clusterId, member)), event, { qos: 0 });
    },
    async close() {
      await sub?.unsubscribe();
    },
  };
}

export interface KvClientOptions {
  /** The transport to reach the members on (with `clusterId`), unless `channel` is given. */
  readonly transport?: Transport;
  readonly clusterId?: string;
  /** Another way to reach the members (e.g. direct TCP); replaces `transport`. */
  readonly channel?: KvChannel;
  /** Every member id (the client finds the leader). */
  readonly members: readonly NodeId[];
  /**
   * The node id requests come from (their CloudEvents source). With the trust layer on it must be the transport's
   * own identity. Default: `kv-` and 16 random hex digits.
   */
  readonly nodeId?: string;
  /** Deadline of one attempt. Default 1000 ms. */
  readonly attemptTimeoutMs?: number;
  /** Give up after this long. Default 15 000 ms. */
  readonly deadlineMs?: number;
  /** Calls in flight at once (more wait for a slot). Default 256. */
  readonly maxInflight?: number;
  readonly clock?: Clock;
  readonly random?: RandomSource;
}

export interface KvGetResult {
  readonly value: Uint8Array | undefined;
  readonly index: bigint;
}

/** Options of a write. */
export interface KvWriteOptions {
  /** Attach the key to this lease: it is deleted when the lease expires or is revoked. */
  readonly lease?: bigint;
}

interface ClientSession {
  readonly id: bigint;
  nextSequence: bigint;
  readonly inflight: Set<bigint>;
}

type Op = KvCommand['op'];

/**
 * A key-value client. It subscribes once to its reply topic and pipelines calls (up to `maxInflight`). Writes run in
 * a session registered with the cluster and carry a sequence number; retries after timeouts or leader changes reuse
 * it, so the store applies each write exactly once. Reads are linearizable (ReadIndex or lease on the leader).
 *
 * Write outcomes: resolved = applied once; `TIMEOUT` = unknown (it may have been applied; `details.reason`
 * `SESSION_EXPIRED` when the session expired before the client learned the answer).
 */
export class KvClient {
  /** The correlation id of this client's replies (`response/<correlationId>`). */
  readonly correlationId: string;
  readonly nodeId: string;
  private readonly clock: Clock;
  private readonly channel: KvChannel;
  private opened: Promise<void> | undefined;
  private session: Promise<ClientSession> | undefined;
  private readonly waiting = new Map<bigint, (response: KvResponse | undefined) => void>();
  private nextRequestId = 1n;
  private leader: NodeId | undefined;
  private roundRobin = 0;
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private closed = false;

  /** @throws EcpsError `INVALID_ARGUMENT` without members, without a transport (and cluster id) or channel, or with a bad id. */
  constructor(private readonly options: KvClientOptions) {
    if (options.members.length === 0) throw new EcpsError('INVALID_ARGUMENT', 'a KvClient needs at least one member');
    const random = options.random ?? cryptoRandom;
    this.clock = options.clock ?? systemClock;
    this.correlationId = uuidv4(random);
    this.nodeId = options.nodeId ?? `kv-${this.correlationId.replace(/-/g, '').slice(0, 16)}`;
    if (options.channel) {
      this.channel = options.channel;
    } else if (options.transport && options.clusterId !== undefined) {
      this.channel = transportKvChannel({ transport: options.transport, clusterId: options.clusterId, nodeId: this.nodeId, correlationId: this.correlationId, clock: this.clock, random });
    } else {
      throw new EcpsError('INVALID_ARGUMENT', 'a KvClient needs a transport and a cluster id, or a channel');
    }
  }

  /** @throws EcpsError `TIMEOUT` when no leader answered before the deadline (the write may or may not apply). */
  async put(key: string, value: Uint8Array, options: KvWriteOptions = {}): Promise<bigint> {
    return (await this.write({ $case: 'put', value: { key, value, lease: options.lease ?? 0n } })).index;
  }

  /** Resolves true when the key existed. */
  async delete(key: string): Promise<boolean> {
    return (await this.write({ $case: 'delete', value: { key } })).found;
  }

  /**
   * Sets `key` to `value` (or deletes it, for `value` undefined) when its current value is `expected` (`undefined` =
   * absent). Resolves true when it swapped.
   */
  async compareAndSet(key: string, expected: Uint8Array | undefined, value: Uint8Array | undefined, options: KvWriteOptions = {}): Promise<boolean> {
    const r = await this.write({
      $case: 'cas',
      value: {
        key,
        expectAbsent: expected === undefined,
        expected: expected ?? new Uint8Array(0),
        value: value ?? new Uint8Array(0),
        lease: options.lease ?? 0n,
        delete: value === undefined,
      },
    });
    return r.ok;
  }

  /** A linearizable read of one key. */
  async get(key: string): Promise<KvGetResult> {
    const r = await this.call({ $case: 'get', value: { key } }, false);
    return { value: r.found ? r.value : undefined, index: r.index };
  }

  /** A linearizable read of the keys starting with `prefix`, in order (at most `limit`, capped by the store). */
  async list(prefix: string, limit = 0): Promise<{ key: string; value: Uint8Array }[]> {
    const r = await this.call({ $case: 'range', value: { prefix, limit } }, false);
    return r.entries.map((e) => ({ key: e.key, value: e.value }));
  }

  /** Grants a lease of `ttlMs`; keys written with it disappear when it expires or is revoked. */
  async grantLease(ttlMs: number): Promise<bigint> {
    return (await this.write({ $case: 'leaseGrant', value: { ttlMs: BigInt(Math.round(ttlMs)) } })).lease;
  }

  /** Renews a lease for its full time to live. Resolves false when it has expired (its keys are gone). */
  async keepAlive(lease: bigint): Promise<boolean> {
    try {
      return (await this.write({ $case: 'leaseKeepAlive', value: { lease } })).ok;
    } catch (error) {
      if (isEcpsError(error, 'NOT_FOUND')) return false;
      throw error;
    }
  }

  /** Ends a lease now, deleting its keys. */
  async revokeLease(lease: bigint): Promise<void> {
    await this.write({ $case: 'leaseRevoke', value: { lease } });
  }

  /** Stops listening for replies; calls in flight fail with `CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const resolve of this.waiting.values()) resolve(undefined);
    this.waiting.clear();
    await this.opened?.catch(() => undefined);
    await this.channel.close();
  }

  private write(op: Op): Promise<KvResult> {
    return this.call(op, true);
  }

  /** Runs one call in a slot: registers a session first for writes, and renews it once if it expired unused. */
  private async call(op: Op, write: boolean): Promise<KvResult> {
    await this.slot();
    try {
      if (this.closed) throw new EcpsError('CLOSED', 'kv client closed');
      await this.listen();
      if (!write) return await this.attempts({ ...emptyCommand(), op }, false).then((r) => r.result);
      for (;;) {
        const session = await this.currentSession();
        session.nextSequence += 1n;
        const sequence = session.nextSequence;
        session.inflight.add(sequence);
        try {
          const cmd = (): KvCommand => ({ ...emptyCommand(), op, session: session.id, sequence, ackedBelow: lowest(session) });
          const { result, maybeApplied } = await this.attempts(cmd, true);
          if (!result.error.startsWith('NOT_FOUND: session')) return result;
          // the session expired or was evicted
          this.dropSession(session);
          if (maybeApplied) {
            throw new EcpsError('TIMEOUT', 'the session expired before the outcome of the write was known', { details: { reason: 'SESSION_EXPIRED' } });
          }
          // never applied (no attempt reached the store before): a new session may run it
        } finally {
          session.inflight.delete(sequence);
        }
      }
    } finally {
      this.release();
    }
  }

  /**
   * Sends the command to the leader (or the next member) until a result comes back or the deadline passes.
   * `maybeApplied` is true when an earlier attempt's outcome is unknown (it timed out or failed remotely).
   */
  private async attempts(command: KvCommand | (() => KvCommand), write: boolean): Promise<{ result: KvResult; maybeApplied: boolean }> {
    const { members } = this.options;
    const attemptMs = this.options.attemptTimeoutMs ?? 1_000;
    const deadline = this.clock.monotonic() + (this.options.deadlineMs ?? 15_000);
    let maybeApplied = false;
    let lastError: unknown;
    while (this.clock.monotonic() < deadline) {
      if (this.closed) throw new EcpsError('CLOSED', 'kv client closed');
      const target = this.leader ?? (members[this.roundRobin++ % members.length] as NodeId);
      const cmd = typeof command === 'function' ? command() : command;
      const response = await this.exchange(target, cmd, Math.min(attemptMs, Math.max(1, deadline - this.clock.monotonic())));
      const outcome = response?.outcome;
      if (outcome?.$case === 'result') {
        const r = outcome.value;
        if (r.error === '' || r.error.startsWith('NOT_FOUND: session')) {
          this.leader = target;
          return { result: r, maybeApplied };
        }
        const code = r.error.split(':')[0] as EcpsErrorCode;
        throw new EcpsError(code, `the store refused the command: ${r.error}`, { details: { reason: r.error } });
      }
      if (outcome?.$case === 'redirect') {
        this.leader = outcome.value.leaderId !== '' && outcome.value.leaderId !== target ? outcome.value.leaderId : undefined;
        if (this.leader === undefined) await this.sleep(50);
        continue;
      }
      if (write) maybeApplied = true;
      lastError = outcome?.$case === 'error' ? new EcpsError('REMOTE_ERROR', outcome.value) : new EcpsError('TIMEOUT', `no answer from ${target}`);
      // timeouts, transport errors and remote failures: same command, another member
      this.leader = undefined;
      await this.sleep(20);
    }
    throw new EcpsError('TIMEOUT', 'no leader answered within the deadline', { cause: lastError });
  }

  /** One request/response over the channel; undefined on timeout or a send failure. */
  private exchange(target: NodeId, command: KvCommand, timeoutMs: number): Promise<KvResponse | undefined> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => done(undefined), timeoutMs);
      const done = (response: KvResponse | undefined) => {
        if (!this.waiting.delete(requestId)) return;
        this.clock.clearTimeout(timer);
        resolve(response);
      };
      this.waiting.set(requestId, done);
      try {
        this.channel.send(target, KvRequest.encode({ command, requestId }).finish()).catch(() => done(undefined));
      } catch {
        done(undefined);
      }
    });
  }

  /** Opens the channel once (the reply subscription). */
  private listen(): Promise<void> {
    this.opened ??= this.channel.open((bytes) => {
      let response: KvResponse;
      try {
        response = KvResponse.decode(bytes);
      } catch {
        return;
      }
      this.waiting.get(response.requestId)?.(response);
    });
    this.opened.catch(() => {
      this.opened = undefined;
    });
    return this.opened;
  }

  private currentSession(): Promise<ClientSession> {
    if (!this.session) {
      const registering = this.attempts({ ...emptyCommand(), op: { $case: 'registerSession', value: {} } }, true).then(({ result }) => {
        if (!result.ok || result.session === 0n) throw new EcpsError('REMOTE_ERROR', `session not registered: ${result.error}`);
        return { id: result.session, nextSequence: 0n, inflight: new Set<bigint>() };
      });
      this.session = registering;
      registering.catch(() => {
        if (this.session === registering) this.session = undefined;
      });
    }
    return this.session;
  }

  private dropSession(session: ClientSession): void {
    void this.session?.then((s) => {
      if (s === session) this.session = undefined;
    });
  }

  private slot(): Promise<void> {
    if (this.active < (this.options.maxInflight ?? 256)) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }
}

/** The lowest sequence still waiting for its answer (the store may drop every answer below it). */
function lowest(session: ClientSession): bigint {
  let low = session.nextSequence + 1n;
  for (const s of session.inflight) if (s < low) low = s;
  return low;
}
