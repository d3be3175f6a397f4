// SPDX-License-Identifier: Apache-2.0
// The key-value store on an ECPS transport. Each member serves `ecps.ext.v1.RaftKv/<cluster>/<node>`: requests
// arrive on `<service>/request` carrying the client's correlation id and are answered on `response/<correlation id>`
// (the spec's request/reply topics). A client keeps one correlation id, hence one reply subscription, for its whole
// life and pipelines its calls over it.
import { EcpsError, cryptoRandom, eventTime, nodeIdFromSource, nodeSource, rpcTopics, silentLogger, systemClock, uuidv4 } from '@ecps/core';
import type { EcpsEvent, Logger, RandomSource, Subscription, Transport } from '@ecps/core';
import { kvEndpoint } from './kv-endpoint';
import type { KvEndpointOptions, KvOperation } from './kv-endpoint';
import { assertTopicId } from './transport-network';
import type { NodeId } from './types';

export const KV_REQUEST_TYPE = 'ecps.ext.raft.kv.request';
export const KV_RESPONSE_TYPE = 'ecps.ext.raft.kv.response';

/** The RPC service name of one member's key-value endpoint. */
export function kvService(clusterId: string, nodeId: NodeId): string {
  return `ecps.ext.v1.RaftKv/${clusterId}/${nodeId}`;
}

export interface KvServerOptions extends KvEndpointOptions {
  readonly transport: Transport;
  readonly clusterId: string;
  /**
   * Decides whether node `client` may do `op` on `key` (the prefix for ranges, '' for lease and session calls).
   * When set, the transport must authenticate senders (`@ecps/trust` at AUTHENTICATED or above), or `serveKv`
   * throws `CONFIG_INVALID`. Refused requests get `PERMISSION_DENIED`.
   */
  readonly authorize?: (client: string, op: KvOperation, key: string) => boolean;
  readonly random?: RandomSource;
  readonly logger?: Logger;
}

/** The trust level a transport declares (`SecureTransport.level` of `@ecps/trust`), 0 when it declares none. */
function trustLevel(transport: Transport): number {
  const level = (transport as { level?: unknown }).level;
  return typeof level === 'number' ? level : 0;
}

/**
 * Serves one member's key-value endpoint on `transport` (the protocol is {@link kvEndpoint}'s). The requester is
 * the event's source node: it owns the sessions it registers and is what `authorize` is asked about.
 * @throws EcpsError `CONFIG_INVALID` when `authorize` is set on a transport that does not authenticate senders.
 */
export async function serveKv(options: KvServerOptions): Promise<Subscription> {
  const { transport, clusterId, node } = options;
  assertTopicId('clusterId', clusterId);
  if (options.authorize && trustLevel(transport) < 2) {
    throw new EcpsError('CONFIG_INVALID', 'serveKv with authorize needs a transport that authenticates senders (trust level AUTHENTICATED or above)');
  }
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? silentLogger;
  const source = nodeSource(node.id);
  const endpoint = kvEndpoint(options);
  const reply = (correlation: string, data: Uint8Array) => {
    const event: EcpsEvent = {
      id: uuidv4(random),
      source,
      type: KV_RESPONSE_TYPE,
      time: eventTime(clock.now()),
      datacontenttype: 'application/protobuf',
      data,
      extensions: { correlationid: correlation },
    };
    transport.publish(rpcTopics.reply(correlation), event, { qos: 0 }).catch((error: unknown) => {
      logger.warn('kv reply not sent', { node: node.id, error: String(error) });
    });
  };
  const sub = await transport.subscribe(
    rpcTopics.request(kvService(clusterId, node.id)),
    (event) => {
      const correlation = event.extensions?.['correlationid'];
      if (event.type !== KV_REQUEST_TYPE || !correlation) return;
      // answered concurrently: a slow commit must not hold up the next request
      void endpoint.handle(event.data, nodeIdFromSource(event.source) ?? '').then((data) => reply(correlation, data));
    },
    { qos: 0 },
  );
  return {
    filter: sub.filter,
    async unsubscribe() {
      endpoint.close();
      await sub.unsubscribe();
    },
  };
}
