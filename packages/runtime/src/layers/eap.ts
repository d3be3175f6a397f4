// SPDX-License-Identifier: Apache-2.0
// Attaches @ecps/eap to a node: actions on `eap`, results, timing budgets of the node's profile, and the action log
// (on by default, spec §5.2: `eap_{unix_seconds}.eaplog` in the log directory, opened on the first action).
import { createEap } from '@ecps/eap';
import type { ActionLogOptions, Eap } from '@ecps/eap';
import type { EaplogWriter } from '@ecps/eaplog';
import type { Clock, Logger, ProfileName, RandomSource, Transport } from '@ecps/core';

export interface EapLayerOptions {
  /** Action log: options for the default file, a writer you own, or false to turn logging off. Default: on, cwd. */
  log?: ActionLogOptions | EaplogWriter | boolean;
  /** How long `send` waits for a result (default 30 s). */
  resultTimeoutMs?: number;
}

/** Creates the node's EAP endpoint. */
export function attachEap(
  node: { id: string; transport: Transport; clock: Clock; random: RandomSource; logger: Logger; config: { profile: ProfileName; topicPrefix: string } },
  options: EapLayerOptions = {},
): Promise<Eap> {
  return createEap({
    transport: node.transport,
    nodeId: node.id,
    profile: node.config.profile,
    topicPrefix: node.config.topicPrefix,
    clock: node.clock,
    random: node.random,
    logger: node.logger,
    log: options.log ?? true,
    ...(options.resultTimeoutMs !== undefined ? { resultTimeoutMs: options.resultTimeoutMs } : {}),
  });
}
