// SPDX-License-Identifier: Apache-2.0
// The key-value store on the network. Each member serves `ecps.ext.v1.RaftKv/<cluster>/<node>`: requests arrive on
// `<service>/request` carrying the client's correlation id and are answered on `response/<correlation id>` (the
// spec's request/reply topics). A client keeps one correlation id, hence one reply subscription, for its whole
// life and pipelines its calls over it; writes carry (session, sequence), so a retry is applied once.
import {
  EcpsError,
  cryptoRandom,
  eventTime,
  isEcpsError,
  nodeIdFromSource,
  nodeSource,
  rpcTopics,
  silentLogger,
  systemClock,
  uuidv4,
} from '@ecps/core';
import type { Clock, EcpsErrorCode, EcpsEvent, Logger, RandomSource, Subscription, Transport } from '@ecps/core';
import { KvCommand, KvRequest, KvResponse, KvResult } from '@ecps/proto/ext/v1';
import type { KvStateMachine } from './kv-state-machine';
import type { RaftNode } from './raft-node';
import { assertTopicId } from './transport-network';
import type { NodeId } from './types';

export const KV_REQUEST_TYPE = 'ecps.ext.raft.kv.request';
export const KV_RESPONSE_TYPE = 'ecps.ext.raft.kv.response';

/** The RPC service name of one member's key-value endpoint. */
export function kvService(clusterId: string, nodeId: NodeId): string {
  return `ecps.ext.v1.RaftKv/${clusterId}/${nodeId}`;
}

/** What a request does, for access control. */
export type KvOperation = 'get' | 'range' | 'put' | 'delete' | 'cas' | 'lease' | 'session';

export interface KvServerOptions {
  readonly transport: Transport;
  readonly clusterId: string;
  readonly node: RaftNode;
  readonly store: KvStateMachine;
  /** Per-request deadline inside the cluster. Default 5000 ms. */
  readonly timeoutMs?: number;
  /**
   * Decides whether node `client` may do `op` on `key` (the prefix for ranges, '' for lease and session calls).
   * When set, the transport must authenticate senders (`@ecps/trust` at AUTHENTICATED or above), or `serveKv`
   * throws `CONFIG_INVALID`. Refused requests get `PERMISSION_DENIED`.
   */
  readonly authorize?: (client: string, op: KvOperation, key: string) => boolean;
  /** How often the leader advances the store's clock while leases exist (so idle leases expire). Default 500 ms. */
  readonly leaseTickMs?: number;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly logger?: Logger;
}

function operationOf(cmd: KvCommand): { op: KvOperation; key: string } | undefined {
  const op = cmd.op;
  switch (op?.$case) {
    case 'get':
    case 'put':
    case 'delete':
    case 'cas':
      return { op: op.$case, key: op.value.key };
    case 'range':
      return { op: 'range', key: op.value.prefix };
    case 'leaseGrant':
    case 'leaseKeepAlive':
    case 'leaseRevoke':
      return { op: 'lease', key: '' };
    case 'registerSession':
      return { op: 'session', key: '' };
    default:
      return undefined;
  }
}

/** The trust level a transport declares (`SecureTransport.level` of `@ecps/trust`), 0 when it declares none. */
function trustLevel(transport: Transport): number {
  const level = (transport as { level?: unknown }).level;
  return typeof level === 'number' ? level : 0;
}

/**
 * Serves one member's key-value endpoint. Followers answer with a redirect to the leader they know. Writes are
 * stamped with the requester (the event's source node) and the leader's clock before they are proposed; reads take
 * a ReadIndex round (or the lease) and read the local replica.
 * @throws EcpsError `CONFIG_INVALID` when `authorize` is set on a transport that does not authenticate senders.
 */
export async function serveKv(options: KvServerOptions): Promise<Subscription> {
  const { transport, clusterId, node, store } = options;
  assertTopicId('clusterId', clusterId);
  if (options.authorize && trustLevel(transport) < 2) {
    throw new EcpsError('CONFIG_INVALID', 'serveKv with authorize needs a transport that authenticates senders (trust level AUTHENTICATED or above)');
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? silentLogger;
  const source = nodeSource(node.id);
  const service = kvService(clusterId, node.id);

  const reply = (correlation: string, response: KvResponse) => {
    const event: EcpsEvent = {
      id: uuidv4(random),
      source,
      type: KV_RESPONSE_TYPE,
      time: eventTime(clock.now()),
      datacontenttype: 'application/protobuf',
      data: KvResponse.encode(response).finish(),
      extensions: { correlationid: correlation },
    };
    transport.publish(rpcTopics.reply(correlation), event, { qos: 0 }).catch((error: unknown) => {
      logger.warn('kv reply not sent', { node: node.id, error: String(error) });
    });
  };

  const answer = async (cmd: KvCommand, client: string): Promise<KvResponse['outcome']> => {
    if (!node.isLeader()) return { $case: 'redirect', value: { leaderId: node.status().leader } };
    try {
      const op = cmd.op;
      if (op?.$case === 'get' || op?.$case === 'range') {
        const index = BigInt(await node.readIndex(timeoutMs));
        if (op.$case === 'get') {
          const v = store.read(op.value.key);
          return { $case: 'result', value: resultOf({ ok: v !== undefined, value: v ?? new Uint8Array(0), found: v !== undefined, index }) };
        }
        return { $case: 'result', value: resultOf({ ok: true, entries: store.range(op.value.prefix, op.value.limit), index }) };
      }
      const stamped: KvCommand = { ...cmd, owner: client, leaderTerm: BigInt(node.status().term), leaderClockMs: BigInt(Math.floor(clock.monotonic())) };
      const r = await node.propose(KvCommand.encode(stamped).finish(), timeoutMs);
      return { $case: 'result', value: KvResult.decode(r) };
    } catch (error) {
      if (isEcpsError(error, 'NOT_LEADER') || isEcpsError(error, 'UNAVAILABLE')) {
        return { $case: 'redirect', value: { leaderId: node.status().leader } };
      }
      const code = isEcpsError(error) ? error.code : 'INTERNAL';
      return { $case: 'error', value: `${code}: ${(error as Error).message}` };
    }
  };

  const sub = await transport.subscribe(
    rpcTopics.request(service),
    (event) => {
      const correlation = event.extensions?.['correlationid'];
      if (event.type !== KV_REQUEST_TYPE || !correlation) return;
      const client = nodeIdFromSource(event.source) ?? '';
      let request: KvRequest;
      try {
        request = KvRequest.decode(event.data);
      } catch {
        reply(correlation, { outcome: { $case: 'error', value: 'DECODE_ERROR: not a KvRequest' }, requestId: 0n });
        return;
      }
      const { requestId } = request;
      const cmd = request.command;
      const what = cmd && operationOf(cmd);
      if (!cmd || !what) {
        reply(correlation, { outcome: { $case: 'error', value: 'INVALID_ARGUMENT: empty or unknown command' }, requestId });
        return;
      }
      if (options.authorize && !options.authorize(client, what.op, what.key)) {
        // a definite refusal (a result, not a failure to retry)
        reply(correlation, { outcome: { $case: 'result', value: resultOf({ error: `PERMISSION_DENIED: ${client} may not ${what.op} '${what.key}'` }) }, requestId });
        return;
      }
      // answered concurrently: a slow commit must not hold up the next request
      void answer(cmd, client).then((outcome) => reply(correlation, { outcome, requestId }));
    },
    { qos: 0 },
  );

  // idle leases expire only when the store's clock moves: the leader moves it while any lease exists
  const tickMs = options.leaseTickMs ?? 500;
  let ticker: ReturnType<Clock['setTimeout']> | undefined;
  let stopped = false;
  const tickLeases = () => {
    if (stopped) return;
    if (node.isLeader() && store.leaseCount > 0) {
      const tick: KvCommand = { ...emptyCommand(), op: { $case: 'clockTick', value: {} }, leaderTerm: BigInt(node.status().term), leaderClockMs: BigInt(Math.floor(clock.monotonic())) };
      node.propose(KvCommand.encode(tick).finish(), timeoutMs).catch(() => undefined);
    }
    ticker = clock.setTimeout(tickLeases, tickMs);
  };
  ticker = clock.setTimeout(tickLeases, tickMs);
  return {
    filter: sub.filter,
    async unsubscribe() {
      stopped = true;
      if (ticker !== undefined) clock.clearTimeout(ticker);
      await sub.unsubscribe();
    },
  };
}

function emptyCommand(): KvCommand {
  return { sequence: 0n, op: undefined, session: 0n, ackedBelow: 0n, owner: '', leaderTerm: 0n, leaderClockMs: 0n };
}

function resultOf(fields: Partial<KvResult>): KvResult {
  return { ok: false, value: new Uint8Array(0), found: false, index: 0n, error: '', session: 0n, entries: [], lease: 0n, ttlMs: 0n, ...fields };
}

export interface KvClientOptions {
  readonly transport: Transport;
  readonly clusterId: string;
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
  private readonly source: string;
  private subscription: Promise<Subscription> | undefined;
  private session: Promise<ClientSession> | undefined;
  private readonly waiting = new Map<bigint, (response: KvResponse | undefined) => void>();
  private nextRequestId = 1n;
  private leader: NodeId | undefined;
  private roundRobin = 0;
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private closed = false;

  /** @throws EcpsError `INVALID_ARGUMENT` without members or with a bad cluster or node id. */
  constructor(private readonly options: KvClientOptions) {
    if (options.members.length === 0) throw new EcpsError('INVALID_ARGUMENT', 'a KvClient needs at least one member');
    assertTopicId('clusterId', options.clusterId);
    const random = options.random ?? cryptoRandom;
    this.clock = options.clock ?? systemClock;
    this.correlationId = uuidv4(random);
    this.nodeId = options.nodeId ?? `kv-${this.correlationId.replace(/-/g, '').slice(0, 16)}`;
    this.source = nodeSource(this.nodeId);
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
    const sub = await this.subscription?.catch(() => undefined);
    await sub?.unsubscribe();
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

  /** One request/response over the client's reply subscription; undefined on timeout or a send failure. */
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
      const event: EcpsEvent = {
        id: uuidv4(this.options.random),
        source: this.source,
        type: KV_REQUEST_TYPE,
        time: eventTime(this.clock.now()),
        datacontenttype: 'application/protobuf',
        data: KvRequest.encode({ command, requestId }).finish(),
        extensions: { correlationid: this.correlationId },
      };
      try {
        this.options.transport.publish(rpcTopics.request(kvService(this.options.clusterId, target)), event, { qos: 0 }).catch(() => done(undefined));
      } catch {
        done(undefined);
      }
    });
  }

  /** Subscribes to this client's reply topic once. */
  private listen(): Promise<Subscription> {
    this.subscription ??= this.options.transport.subscribe(
      rpcTopics.reply(this.correlationId),
      (event) => {
        if (event.type !== KV_RESPONSE_TYPE) return;
        let response: KvResponse;
        try {
          response = KvResponse.decode(event.data);
        } catch {
          return;
        }
        this.waiting.get(response.requestId)?.(response);
      },
      { qos: 0 },
    );
    this.subscription.catch(() => {
      this.subscription = undefined;
    });
    return this.subscription;
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
