// SPDX-License-Identifier: Apache-2.0
// A NodeMedium over an authenticated PeatTransport: each node message is one Application frame (key `node`,
// JSON payload) sent to every peer that passed the mutual handshake. The sender is the authenticated peer, never
// a field of the message, so a node outside the formation is never heard. Frames that do not decode are dropped
// and counted.
import { silentLogger } from '@ecps/core';
import type { Logger } from '@ecps/core';
import { FrameType, PeatError } from '@ecps/peat';
import type { PeatTransport } from '@ecps/peat';
import { decodeNodeMessage, encodeNodeMessage } from './medium';
import type { Envelope, NodeMedium } from './medium';

/** Document key of the node-message frames. */
export const NODE_FRAME_KEY = 'node';

export interface PeatMediumStats {
  sent: number;
  received: number;
  dropped: number;
}

/**
 * The medium of one node (the one `transport` belongs to). Sending never throws: a
 * peer whose channel refuses a frame (full, breaker open, gone) loses that message, as on any lossy medium.
 * `attach` throws PeatError `INVALID_ARGUMENT` for another node id.
 */
export function peatMedium(transport: PeatTransport, logger: Logger = silentLogger): NodeMedium & { readonly stats: PeatMediumStats } {
  const stats: PeatMediumStats = { sent: 0, received: 0, dropped: 0 };
  let receiver: ((e: Envelope) => void) | null = null;
  transport.onFrame((from, frame) => {
    if (frame.type !== FrameType.Application || frame.key !== NODE_FRAME_KEY || !receiver) return;
    const message = decodeNodeMessage(frame.payload);
    if (!message) {
      stats.dropped++;
      return;
    }
    stats.received++;
    receiver({ from, message });
  });
  return {
    stats,
    attach(nodeId, receive) {
      if (nodeId !== transport.nodeId) throw new PeatError('INVALID_ARGUMENT', `this medium belongs to ${transport.nodeId}, not ${nodeId}`);
      receiver = receive;
      return (message) => {
        if (receiver === null) return;
        const payload = encodeNodeMessage(message);
        for (const peer of transport.peers()) {
          stats.sent++;
          transport.send(peer, { key: NODE_FRAME_KEY, type: FrameType.Application, payload }).catch((error: unknown) => {
            stats.dropped++;
            logger.debug('peat node medium: send failed', { peer, error: String(error) });
          });
        }
      };
    },
    detach() {
      receiver = null;
    },
  };
}
