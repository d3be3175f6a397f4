// SPDX-License-Identifier: Apache-2.0
// Raft over any ECPS Transport: each message is a `RaftMessage` (protobuf) in a CloudEvent of type
// `ecps.ext.raft.message`, published best-effort to the recipient's topic. Raft's own retries make loss harmless.
import { EcpsError, eventTime, nodeSource, silentLogger, uuidv4 } from '@ecps/core';
import type { EcpsEvent, Logger, Subscription, Transport } from '@ecps/core';
import { decodeRaftMessage, encodeRaftMessage } from './message-codec';
import type { RaftNetwork } from './raft-node';
import type { Message, NodeId } from './types';

/** CloudEvents type of a Raft message. */
export const RAFT_EVENT_TYPE = 'ecps.ext.raft.message';

/** The topic a node receives its Raft messages on (`ecps.ext.v1.Raft.Step/<cluster>/<node>`). */
export function raftTopic(clusterId: string, nodeId: NodeId): string {
  return `ecps.ext.v1.Raft.Step/${clusterId}/${nodeId}`;
}

export interface TransportNetworkOptions {
  readonly transport: Transport;
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly logger?: Logger;
}

/**
 * A {@link RaftNetwork} on an ECPS transport (MQTT, gRPC, memory, ...). Messages for other clusters and
 * undecodable events are dropped (and logged at debug level).
 * @throws EcpsError `INVALID_ARGUMENT` for a cluster or node id that is not a plain topic level.
 */
export function transportNetwork(options: TransportNetworkOptions): RaftNetwork {
  const { transport, clusterId, nodeId } = options;
  const logger = options.logger ?? silentLogger;
  for (const [what, v] of [['clusterId', clusterId], ['nodeId', nodeId]] as const) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(v)) throw new EcpsError('INVALID_ARGUMENT', `${what} '${v}' must match [A-Za-z0-9._-]{1,64}`);
  }
  const source = nodeSource(nodeId);
  let sub: Subscription | undefined;
  return {
    async start(onMessage) {
      sub = await transport.subscribe(
        raftTopic(clusterId, nodeId),
        (event) => {
          if (event.type !== RAFT_EVENT_TYPE) return;
          try {
            const { message, clusterId: cid } = decodeRaftMessage(event.data);
            if (cid !== clusterId || message.to !== nodeId) return;
            onMessage(message);
          } catch (error) {
            logger.debug('dropping an undecodable raft message', { error: String(error) });
          }
        },
        { qos: 0 },
      );
    },
    send(messages: readonly Message[]) {
      for (const m of messages) {
        const event: EcpsEvent = {
          id: uuidv4(),
          source,
          type: RAFT_EVENT_TYPE,
          time: eventTime(Date.now()),
          datacontenttype: 'application/protobuf',
          data: encodeRaftMessage(m, clusterId),
        };
        transport.publish(raftTopic(clusterId, m.to), event, { qos: 0 }).catch((error: unknown) => {
          logger.debug('raft message not sent', { to: m.to, type: m.type, error: String(error) });
        });
      }
    },
    async close() {
      await sub?.unsubscribe();
    },
  };
}
