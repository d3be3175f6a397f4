// SPDX-License-Identifier: Apache-2.0
// What every layer is given by the node it is attached to.
import type { Clock, Logger, ProfileName, RandomSource, Transport } from '@ecps/core';

export interface LayerContext {
  transport: Transport;
  nodeId: string;
  profile: ProfileName;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
}
