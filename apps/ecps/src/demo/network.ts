// SPDX-License-Identifier: Apache-2.0
// The network the demo's nodes share.
import type { Transport } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';

export interface DemoNetworkOptions {
  /** An external broker URL (`ecps demo --broker mqtt://host:port`). */
  broker?: string;
}

export interface DemoNetwork {
  /** Human-readable description for the demo's first line. */
  readonly description: string;
  readonly brokerUrl?: string;
  transportFor(nodeId: string): Transport;
  close(): Promise<void>;
}

/** The in-process network: every node on one memory bus. */
export async function createDemoNetwork(options: DemoNetworkOptions): Promise<DemoNetwork> {
  if (options.broker) {
    throw new Error('--broker needs the MQTT transport, which this build does not include');
  }
  const bus = new MemoryBus();
  return {
    description: 'in-process memory bus',
    transportFor: (nodeId) => memoryTransport({ nodeId, bus }),
    close: async () => undefined,
  };
}
