// SPDX-License-Identifier: Apache-2.0
// Raft over any ECPS Transport: each message is a `RaftMessage` (protobuf) in a CloudEvent of type
// `ecps.ext.raft.message`, published best-effort to the recipient's topic. Raft's own retries make loss harmless;
// a message that cannot be sent at all is reported (warning + metric) so that it is never silently lost.
import { metrics } from '@opentelemetry/api';
import type { Meter } from '@opentelemetry/api';
import { EcpsError, eventTime, isEcpsError, nodeIdFromSource, nodeSource, silentLogger, systemClock, uuidv4 } from '@ecps/core';
import type { Clock, EcpsEvent, Logger, RandomSource, Subscription, Transport } from '@ecps/core';
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
  /** OpenTelemetry meter (default `metrics.getMeter('@ecps/raft')`, a no-op until an SDK is installed). */
  readonly meter?: Meter;
  readonly clock?: Clock;
  /** For event ids (default crypto). */
  readonly random?: RandomSource;
}

/** Warnings about one peer are logged at most this often; the metric counts every failure. */
const WARN_INTERVAL_MS = 5_000;

/**
 * A `warn(peer, message, fields)` that logs about each peer at most once per 5 s (a dead peer would otherwise log on
 * every heartbeat), remembering at most 1,024 peers. Shared by the Raft peer networks.
 */
export function peerWarner(logger: Logger, clock: Clock, nodeId: string): (peer: string, message: string, fields: Record<string, unknown>) => void {
  const lastWarned = new Map<string, number>();
  return (peer, message, fields) => {
    const now = clock.monotonic();
    const last = lastWarned.get(peer);
    if (last !== undefined && now - last < WARN_INTERVAL_MS) return;
    if (lastWarned.size > 1024) lastWarned.clear();
    lastWarned.set(peer, now);
    logger.warn(message, { node: nodeId, peer, ...fields });
  };
}

/** Checks a cluster or node id (they are topic levels). @throws EcpsError `INVALID_ARGUMENT`. */
export function assertTopicId(what: string, value: string): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw new EcpsError('INVALID_ARGUMENT', `${what} '${value}' must match [A-Za-z0-9._-]{1,64}`);
}

/**
 * A {@link RaftNetwork} on an ECPS transport (MQTT, gRPC, memory, ...). Received messages are bound to their sender:
 * one whose `from` is not the event's `source` node is dropped (with the trust layer of `@ecps/trust` at
 * AUTHENTICATED or above, the source is the verified signer, so no member can speak for another). Messages for
 * other clusters or nodes and undecodable events are dropped too. Every drop and every failed send is a warning
 * (rate-limited per peer) and a count in `ecps.raft.messages.dropped` (`reason`, `direction`).
 * @throws EcpsError `INVALID_ARGUMENT` for a cluster or node id that is not a plain topic level.
 */
export function transportNetwork(options: TransportNetworkOptions): RaftNetwork {
  const { transport, clusterId, nodeId } = options;
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  assertTopicId('clusterId', clusterId);
  assertTopicId('nodeId', nodeId);
  const dropped = (options.meter ?? metrics.getMeter('@ecps/raft')).createCounter('ecps.raft.messages.dropped', {
    description: 'Raft messages not sent (send failures) or not accepted (bad sender, undecodable)',
  });
  const warn = peerWarner(logger, clock, nodeId);
  const source = nodeSource(nodeId);
  let sub: Subscription | undefined;
  return {
    maxMessageBytes: transport.maxPayloadSize,
    async start(onMessage) {
      sub = await transport.subscribe(
        raftTopic(clusterId, nodeId),
        (event) => {
          if (event.type !== RAFT_EVENT_TYPE) return;
          const sender = nodeIdFromSource(event.source) ?? event.source;
          let message: Message;
          try {
            const decoded = decodeRaftMessage(event.data);
            if (decoded.clusterId !== clusterId || decoded.message.to !== nodeId) return;
            message = decoded.message;
          } catch (error) {
            dropped.add(1, { direction: 'in', reason: 'DECODE_ERROR' });
            warn(sender, 'dropping an undecodable raft message', { error: String(error) });
            return;
          }
          if (message.from !== sender) {
            dropped.add(1, { direction: 'in', reason: 'WRONG_SENDER' });
            warn(sender, 'dropping a raft message whose sender is not its source', { from: message.from, type: message.type });
            return;
          }
          onMessage(message);
        },
        { qos: 0 },
      );
    },
    send(messages: readonly Message[]) {
      const time = eventTime(clock.now());
      for (const m of messages) {
        const event: EcpsEvent = {
          id: uuidv4(options.random),
          source,
          type: RAFT_EVENT_TYPE,
          time,
          datacontenttype: 'application/protobuf',
          data: encodeRaftMessage(m, clusterId),
        };
        const failed = (error: unknown) => {
          const reason = isEcpsError(error) ? error.code : 'INTERNAL';
          dropped.add(1, { direction: 'out', reason, type: m.type });
          warn(m.to, 'raft message not sent', { type: m.type, reason, bytes: event.data.length, error: String(error) });
        };
        try {
          transport.publish(raftTopic(clusterId, m.to), event, { qos: 0 }).catch(failed);
        } catch (error) {
          failed(error);
        }
      }
    },
    async close() {
      await sub?.unsubscribe();
    },
  };
}
