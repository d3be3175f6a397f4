// SPDX-License-Identifier: Apache-2.0
// A NodeMedium over any ECPS publish/subscribe Transport (MQTT through @ecps/transport-mqtt, the in-process bus,
// ...): every node message is one JSON CloudEvent on `peat/v1/<mesh_id>/node`, the sender being the event's source.
// Messages that do not decode, or are larger than the transport allows, are dropped and counted.
import { nodeIdFromSource, nodeSource, silentLogger } from '@ecps/core';
import type { EcpsEvent, Logger, Subscription, Transport } from '@ecps/core';
import { PeatError } from '@ecps/peat';
import { decodeNodeMessage, encodeNodeMessage } from './medium';
import type { Envelope, NodeMedium } from './medium';

/** CloudEvents type of a node message. */
export const NODE_MESSAGE_EVENT_TYPE = 'ecps.ext.peat.node';

export interface TransportMediumOptions {
  /** A connected transport per node (`transportFor(nodeId)`); the medium does not own them. */
  readonly transportFor: (nodeId: string) => Transport;
  readonly meshId: string;
  readonly logger?: Logger;
}

/** @throws PeatError `INVALID_ARGUMENT` for a mesh id that cannot be a topic segment. */
export function transportMedium(options: TransportMediumOptions): NodeMedium & { readonly stats: { sent: number; received: number; dropped: number } } {
  if (!/^[A-Za-z0-9_.-]+$/.test(options.meshId)) throw new PeatError('INVALID_ARGUMENT', `meshId ${JSON.stringify(options.meshId)} is not a topic segment`);
  const topic = `peat/v1/${options.meshId}/node`;
  const logger = options.logger ?? silentLogger;
  const subs = new Map<string, Promise<Subscription | undefined>>();
  const stats = { sent: 0, received: 0, dropped: 0 };
  return {
    stats,
    attach(nodeId, receive) {
      const transport = options.transportFor(nodeId);
      const onEvent = (e: EcpsEvent) => {
        const from = nodeIdFromSource(e.source);
        if (e.type !== NODE_MESSAGE_EVENT_TYPE || from === undefined || from === nodeId) return;
        const message = decodeNodeMessage(e.data);
        if (!message) {
          stats.dropped++;
          return;
        }
        stats.received++;
        receive({ from, message } satisfies Envelope);
      };
      subs.set(
        nodeId,
        transport.subscribe(topic, onEvent).catch((error: unknown) => {
          logger.warn('peat node medium: subscribe failed', { node: nodeId, error: String(error) });
          return undefined;
        }),
      );
      let seq = 0;
      return (message) => {
        const data = encodeNodeMessage(message);
        if (data.length > transport.maxPayloadSize) {
          stats.dropped++;
          return;
        }
        stats.sent++;
        transport.publish(topic, { id: `${nodeId}-${++seq}`, source: nodeSource(nodeId), type: NODE_MESSAGE_EVENT_TYPE, data }, { qos: 1 }).catch((error: unknown) => {
          stats.dropped++;
          logger.warn('peat node medium: publish failed', { node: nodeId, error: String(error) });
        });
      };
    },
    detach(nodeId) {
      const sub = subs.get(nodeId);
      subs.delete(nodeId);
      void sub?.then((s) => s?.unsubscribe()).catch(() => undefined);
    },
  };
}
