// SPDX-License-Identifier: Apache-2.0
// The network the demo's nodes share: real MQTT, through an embedded broker unless `--broker` names one.
import type { Transport } from '@ecps/core';
import { startBroker } from '@ecps/broker';
import { mqttTransport } from '@ecps/transport-mqtt';

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

/**
 * Every node gets its own MQTT connection. MQTT 3.1.1 (structured CloudEvents) is used in both cases: the embedded
 * aedes broker speaks only 3.1.1, and every external broker (Mosquitto, EMQX, `ecps broker`) accepts it.
 */
export async function createDemoNetwork(options: DemoNetworkOptions): Promise<DemoNetwork> {
  const broker = options.broker ? undefined : await startBroker({ port: 0 });
  const url = options.broker ?? broker!.url;
  return {
    description: broker ? `MQTT through an embedded broker at ${url}` : `MQTT through the broker at ${url}`,
    brokerUrl: url,
    transportFor: (nodeId) => mqttTransport({ url, nodeId, protocolVersion: 4, connectTimeoutMs: 10_000 }),
    close: async () => broker?.close(),
  };
}
