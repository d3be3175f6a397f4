// SPDX-License-Identifier: Apache-2.0
// The key-value protocol of one member, independent of how requests arrive: an encoded `KvRequest` in, an encoded
// `KvResponse` out. `serveKv` runs it on an ECPS transport; other carriers (direct TCP in @ecps/raft-tcp) reuse it.
import { isEcpsError, systemClock } from '@ecps/core';
import type { Clock, TimerHandle } from '@ecps/core';
import { KvCommand, KvRequest, KvResponse, KvResult } from '@ecps/proto/ext/v1';
import type { KvStateMachine } from './kv-state-machine';
import type { RaftNode } from './raft-node';

/** What a request does, for access control. */
export type KvOperation = 'get' | 'range' | 'put' | 'delete' | 'cas' | 'lease' | 'session';

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

export interface KvEndpointOptions {
  readonly node: RaftNode;
  readonly store: KvStateMachine;
  /** Per-request deadline inside the cluster. Default 5000 ms. */
  readonly timeoutMs?: number;
  /**
   * Decides whether `client` may do `op` on `key` (the prefix for ranges, '' for lease and session calls). Only
   * meaningful when the carrier authenticates `client`. Refused requests get `PERMISSION_DENIED`.
   */
  readonly authorize?: (client: string, op: KvOperation, key: string) => boolean;
  /** How often the leader advances the store's clock while leases exist (so idle leases expire). Default 500 ms. */
  readonly leaseTickMs?: number;
  readonly clock?: Clock;
}

/** One member's key-value protocol. */
export interface KvEndpoint {
  /**
   * Answers one encoded `KvRequest` from `client` (the sender as the carrier knows it: the session owner). Followers
   * answer with a redirect to the leader they know; writes are stamped with `client` and the leader's clock and
   * proposed; reads take a ReadIndex round (or the lease) and read the local replica. Never rejects.
   */
  handle(request: Uint8Array, client: string): Promise<Uint8Array>;
  /** Stops the lease clock. */
  close(): void;
}

export function emptyCommand(): KvCommand {
  return { sequence: 0n, op: undefined, session: 0n, ackedBelow: 0n, owner: '', leaderTerm: 0n, leaderClockMs: 0n };
}

export function resultOf(fields: Partial<KvResult>): KvResult {
  return { ok: false, value: new Uint8Array(0), found: false, index: 0n, error: '', session: 0n, entries: [], lease: 0n, ttlMs: 0n, ...fields };
}

/** The key-value protocol on `node` and `store`; starts the leader's lease clock (stop it with `close`). */
export function kvEndpoint(options: KvEndpointOptions): KvEndpoint {
  const { node, store } = options;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const clock = options.clock ?? systemClock;
  const stamp = (cmd: KvCommand, owner: string): KvCommand => ({
    ...cmd,
    owner,
    leaderTerm: BigInt(node.status().term),
    leaderClockMs: BigInt(Math.floor(clock.monotonic())),
  });

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
      const r = await node.propose(KvCommand.encode(stamp(cmd, client)).finish(), timeoutMs);
      return { $case: 'result', value: KvResult.decode(r) };
    } catch (error) {
      if (isEcpsError(error, 'NOT_LEADER') || isEcpsError(error, 'UNAVAILABLE')) {
        return { $case: 'redirect', value: { leaderId: node.status().leader } };
      }
      const code = isEcpsError(error) ? error.code : 'INTERNAL';
      return { $case: 'error', value: `${code}: ${(error as Error).message}` };
    }
  };

  // idle leases expire only when the store's clock moves: the leader moves it while any lease exists
  const tickMs = options.leaseTickMs ?? 500;
  let ticker: TimerHandle | undefined;
  let stopped = false;
  const tickLeases = () => {
    if (stopped) return;
    if (node.isLeader() && store.leaseCount > 0) {
      const tick = stamp({ ...emptyCommand(), op: { $case: 'clockTick', value: {} } }, '');
      node.propose(KvCommand.encode(tick).finish(), timeoutMs).catch(() => undefined);
    }
    ticker = clock.setTimeout(tickLeases, tickMs);
  };
  ticker = clock.setTimeout(tickLeases, tickMs);

  const encode = (response: KvResponse) => KvResponse.encode(response).finish();
  return {
    async handle(bytes, client) {
      let request: KvRequest;
      try {
        request = KvRequest.decode(bytes);
      } catch {
        return encode({ outcome: { $case: 'error', value: 'DECODE_ERROR: not a KvRequest' }, requestId: 0n });
      }
      const { requestId } = request;
      const cmd = request.command;
      const what = cmd && operationOf(cmd);
      if (!cmd || !what) return encode({ outcome: { $case: 'error', value: 'INVALID_ARGUMENT: empty or unknown command' }, requestId });
      if (options.authorize && !options.authorize(client, what.op, what.key)) {
        // a definite refusal (a result, not a failure to retry)
        return encode({ outcome: { $case: 'result', value: resultOf({ error: `PERMISSION_DENIED: ${client} may not ${what.op} '${what.key}'` }) }, requestId });
      }
      return encode({ outcome: await answer(cmd, client), requestId });
    },
    close() {
      stopped = true;
      if (ticker !== undefined) clock.clearTimeout(ticker);
    },
  };
}
