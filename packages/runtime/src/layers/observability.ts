// SPDX-License-Identifier: Apache-2.0
// Attaches @ecps/observability: the node's transport is wrapped so that every layer's traffic is traced and metered.
import type { Transport } from '@ecps/core';
import { tracedTransport, type TracedTransportOptions } from '@ecps/observability';

/** `true` uses the global OpenTelemetry providers; an object names them. Off when absent or `false`. */
export type ObservabilityOption = boolean | TracedTransportOptions;

export function withObservability(transport: Transport, option: ObservabilityOption | undefined): Transport {
  if (!option) return transport;
  return tracedTransport(transport, option === true ? {} : option);
}
