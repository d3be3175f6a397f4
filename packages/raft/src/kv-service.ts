// SPDX-License-Identifier: Apache-2.0
// The key-value store on the network: a server per Raft member (unary RPC `ecps.ext.v1.RaftKv/<cluster>/<node>`,
// KvRequest -> KvResponse) and a client that follows redirects and retries the same (client id, sequence) so a
// write is applied once however often it is retried.
import { EcpsError, eventTime, isEcpsError, nodeSource, uuidv4 } from '@ecps/core';
import type { EcpsEvent, Subscription, Transport } from '@ecps/core';
import { KvCommand, KvRequest, KvResponse, KvResult } from '@ecps/proto/ext/v1';
import type { KvStateMachine } from './kv-state-machine';
import type { RaftNode } from './raft-node';
import type { NodeId } from './types';

export const KV_REQUEST_TYPE = 'ecps.ext.raft.kv.request';
export const KV_RESPONSE_TYPE = 'ecps.ext.raft.kv.response';

/** The RPC service name of one member's key-value endpoint. */
export function kvService(clusterId: string, nodeId: NodeId): string {
  return `ecps.ext.v1.RaftKv/${clusterId}/${nodeId}`;
}

function event(source: string, type: string, data: Uint8Array): EcpsEvent {
  return { id: uuidv4(), source, type, time: eventTime(Date.now()), datacontenttype: 'application/protobuf', data };
}

export interface KvServerOptions {
  readonly transport: Transport;
  readonly clusterId: string;
  readonly node: RaftNode;
  readonly store: KvStateMachine;
  /** Per-request deadline inside the cluster. Default 5000 ms. */
  readonly timeoutMs?: number;
}

/** Serves one member's key-value endpoint. Followers answer with a redirect to the leader they know. */
export async function serveKv(options: KvServerOptions): Promise<Subscription> {
  const { transport, clusterId, node, store } = options;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const source = nodeSource(node.id);
  const respond = (r: KvResponse) => event(source, KV_RESPONSE_TYPE, KvResponse.encode(r).finish());
  return transport.serve(kvService(clusterId, node.id), async (req) => {
    let request: KvRequest;
    try {
      request = KvRequest.decode(req.data);
    } catch {
      return respond({ outcome: { $case: 'error', value: 'DECODE_ERROR: not a KvRequest' } });
    }
    const cmd = request.command;
    if (!cmd?.op) return respond({ outcome: { $case: 'error', value: 'INVALID_ARGUMENT: empty command' } });
    if (!node.isLeader()) return respond({ outcome: { $case: 'redirect', value: { leaderId: node.status().leader } } });
    try {
      if (cmd.op.$case === 'get') {
        const index = await node.readIndex(timeoutMs);
        const v = store.read(cmd.op.value.key);
        const result: KvResult = { ok: v !== undefined, value: v ?? new Uint8Array(0), found: v !== undefined, index: BigInt(index) };
        return respond({ outcome: { $case: 'result', value: result } });
      }
      const reply = await node.propose(KvCommand.encode(cmd).finish(), timeoutMs);
      return respond({ outcome: { $case: 'result', value: KvResult.decode(reply) } });
    } catch (error) {
      if (isEcpsError(error, 'NOT_LEADER') || isEcpsError(error, 'UNAVAILABLE')) {
        return respond({ outcome: { $case: 'redirect', value: { leaderId: node.status().leader } } });
      }
      const code = isEcpsError(error) ? error.code : 'INTERNAL';
      return respond({ outcome: { $case: 'error', value: `${code}: ${(error as Error).message}` } });
    }
  });
}

export interface KvClientOptions {
  readonly transport: Transport;
  readonly clusterId: string;
  /** Every member id (the client finds the leader). */
  readonly members: readonly NodeId[];
  /** Unique per client (a random UUID by default). Reusing one across live clients breaks exactly-once. */
  readonly clientId?: string;
  /** Deadline of one attempt. Default 1000 ms. */
  readonly attemptTimeoutMs?: number;
  /** Give up after this long. Default 15 000 ms. */
  readonly deadlineMs?: number;
}

export interface KvGetResult {
  readonly value: Uint8Array | undefined;
  readonly index: bigint;
}

/**
 * A key-value client. Writes are serialised per client and carry (client id, sequence); a retry after a timeout or
 * a leader change reuses the sequence, so the store applies each write exactly once. Reads are linearizable
 * (ReadIndex on the leader).
 */
export class KvClient {
  readonly clientId: string;
  private sequence = 0n;
  private leader: NodeId | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly source: string;

  constructor(private readonly options: KvClientOptions) {
    if (options.members.length === 0) throw new EcpsError('INVALID_ARGUMENT', 'a KvClient needs at least one member');
    this.clientId = options.clientId ?? uuidv4();
    this.source = nodeSource(`kv-client-${this.clientId.slice(0, 40)}`);
  }

  /** @throws EcpsError `TIMEOUT` when no leader answered before the deadline (the write may or may not apply). */
  async put(key: string, value: Uint8Array): Promise<bigint> {
    const r = await this.write({ $case: 'put', value: { key, value } });
    return r.index;
  }

  /** Resolves true when the key existed. */
  async delete(key: string): Promise<boolean> {
    return (await this.write({ $case: 'delete', value: { key } })).found;
  }

  /** Sets `key` to `value` when its current value is `expected` (`undefined` = absent). Resolves true when swapped. */
  async compareAndSet(key: string, expected: Uint8Array | undefined, value: Uint8Array): Promise<boolean> {
    const r = await this.write({
      $case: 'cas',
      value: { key, expectAbsent: expected === undefined, expected: expected ?? new Uint8Array(0), value },
    });
    return r.ok;
  }

  async get(key: string): Promise<KvGetResult> {
    const r = await this.execute({ clientId: this.clientId, sequence: 0n, op: { $case: 'get', value: { key } } });
    return { value: r.found ? r.value : undefined, index: r.index };
  }

  private write(op: KvCommand['op']): Promise<KvResult> {
    const run = this.chain.then(() => {
      this.sequence += 1n;
      return this.execute({ clientId: this.clientId, sequence: this.sequence, op });
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async execute(command: KvCommand): Promise<KvResult> {
    const { transport, clusterId, members } = this.options;
    const attemptMs = this.options.attemptTimeoutMs ?? 1_000;
    const deadline = Date.now() + (this.options.deadlineMs ?? 15_000);
    const data = KvRequest.encode({ command }).finish();
    let next = 0;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const target = this.leader ?? (members[next++ % members.length] as NodeId);
      try {
        const reply = await transport.request(kvService(clusterId, target), event(this.source, KV_REQUEST_TYPE, data), {
          timeoutMs: Math.min(attemptMs, Math.max(1, deadline - Date.now())),
        });
        const resp = KvResponse.decode(reply.data);
        const outcome = resp.outcome;
        if (outcome?.$case === 'result') {
          this.leader = target;
          return outcome.value;
        }
        if (outcome?.$case === 'redirect') {
          this.leader = outcome.value.leaderId !== '' && outcome.value.leaderId !== target ? outcome.value.leaderId : undefined;
          if (this.leader === undefined) await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        lastError = new EcpsError('REMOTE_ERROR', outcome?.value ?? 'empty response');
      } catch (error) {
        lastError = error;
      }
      // timeouts, transport errors and remote failures: same sequence, another member
      this.leader = undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new EcpsError('TIMEOUT', `no leader answered within the deadline`, { cause: lastError });
  }
}
