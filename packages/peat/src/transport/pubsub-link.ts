// SPDX-License-Identifier: Apache-2.0
// A PeatLink over any ECPS publish/subscribe Transport (MQTT 5 through @ecps/transport-mqtt, or the in-process
// and gRPC-bus transports): unicast on `peat/v1/<mesh_id>/n/<node_id>`, broadcast on `peat/v1/<mesh_id>/b`, QoS 1.
// The sender is the event's CloudEvents source. The broker is not trusted: run the mutual handshake and signed
// changes on top.
import { nodeIdFromSource, nodeSource } from '@ecps/core';
import type { EcpsEvent, QosLevel, Subscription, Transport } from '@ecps/core';
import { PeatError } from '../errors';
import type { LinkHandler, PeatLink } from './types';

/** CloudEvents type of a Peat link message. */
export const PEAT_EVENT_TYPE = 'ecps.ext.peat.frame';

export interface PubSubLinkOptions {
  /** A connected (or connecting) ECPS transport; the link does not own it. */
  readonly transport: Transport;
  readonly meshId: string;
  readonly nodeId: string;
  /** Default 1. */
  readonly qos?: QosLevel;
}

/** Topic of `nodeId`'s unicast inbox. */
export function peatUnicastTopic(meshId: string, nodeId: string): string {
  return `peat/v1/${meshId}/n/${nodeId}`;
}
/** Topic of the mesh-wide broadcast, or of one broadcast scope (`peat/v1/<mesh_id>/b/<scope>`). */
export function peatBroadcastTopic(meshId: string, scope?: string): string {
  return scope === undefined ? `peat/v1/${meshId}/b` : `peat/v1/${meshId}/b/${scope}`;
}

function checkSegment(name: string, v: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(v)) throw new PeatError('INVALID_ARGUMENT', `${name} ${JSON.stringify(v)} is not a topic segment`);
}

/** @throws PeatError `INVALID_ARGUMENT` for ids that cannot be topic segments. */
export function pubsubLink(options: PubSubLinkOptions): PeatLink {
  checkSegment('meshId', options.meshId);
  checkSegment('nodeId', options.nodeId);
  const { transport, meshId, nodeId } = options;
  const qos = options.qos ?? 1;
  const source = nodeSource(nodeId);
  let seq = 0;
  let subs: Subscription[] = [];
  const scoped = new Map<string, Subscription>();
  let deliver: ((e: EcpsEvent) => void) | undefined;
  const event = (data: Uint8Array): EcpsEvent => ({ id: `${nodeId}-${++seq}`, source, type: PEAT_EVENT_TYPE, data });

  return {
    nodeId,
    get maxMessageBytes() {
      return transport.maxPayloadSize;
    },
    async start(handler: LinkHandler) {
      if (subs.length) return;
      deliver = (e: EcpsEvent) => {
        if (e.type !== PEAT_EVENT_TYPE) return;
        const from = nodeIdFromSource(e.source);
        if (from !== undefined && from !== nodeId) handler.message(from, e.data);
      };
      subs = [
        await transport.subscribe(peatUnicastTopic(meshId, nodeId), deliver, { qos }),
        await transport.subscribe(peatBroadcastTopic(meshId), deliver, { qos }),
      ];
    },
    async stop() {
      const s = [...subs, ...scoped.values()];
      subs = [];
      scoped.clear();
      deliver = undefined;
      await Promise.all(s.map((x) => x.unsubscribe()));
    },
    send: (to, data) => transport.publish(peatUnicastTopic(meshId, to), event(data), { qos }),
    broadcast: (data, scope) => {
      if (scope !== undefined) checkSegment('scope', scope);
      return transport.publish(peatBroadcastTopic(meshId, scope), event(data), { qos });
    },
    async joinScope(scope) {
      checkSegment('scope', scope);
      if (!deliver) throw new PeatError('CLOSED', 'link not started');
      if (scoped.has(scope)) return;
      scoped.set(scope, await transport.subscribe(peatBroadcastTopic(meshId, scope), deliver, { qos }));
    },
    async leaveScope(scope) {
      const sub = scoped.get(scope);
      scoped.delete(scope);
      await sub?.unsubscribe();
    },
  };
}
