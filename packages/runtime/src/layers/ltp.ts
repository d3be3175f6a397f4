// SPDX-License-Identifier: Apache-2.0
// node.ltp: the LTP layer of @ecps/ltp on the node's transport, profile, clock, randomness and logger.
import { createLtp, type Ltp, type LtpOptions } from '@ecps/ltp';
import type { LayerContext } from './context';

/** LTP settings a node accepts (everything but what the node itself provides). */
export type NodeLtpOptions = Omit<LtpOptions, 'transport' | 'nodeId' | 'profile' | 'clock' | 'random' | 'logger'>;

export function attachLtp(context: LayerContext, options: NodeLtpOptions = {}): Ltp {
  return createLtp({ ...options, ...context });
}
