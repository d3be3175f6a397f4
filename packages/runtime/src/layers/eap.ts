// SPDX-License-Identifier: Apache-2.0
// node.eap: the EAP layer of @ecps/eap on the node's transport, profile, clock, randomness and logger, with the
// action log on by default (spec §5.2: `eap_{unix_seconds}.eaplog` in the cwd, opened on the first action).
import { createEap, type Eap, type EapOptions } from '@ecps/eap';
import type { LayerContext } from './context';

/** EAP settings a node accepts (everything but what the node itself provides). `log` defaults to true. */
export type NodeEapOptions = Omit<EapOptions, 'transport' | 'nodeId' | 'profile' | 'clock' | 'random' | 'logger'>;

export function attachEap(context: LayerContext, options: NodeEapOptions = {}): Promise<Eap> {
  return createEap({ log: true, ...options, ...context });
}
