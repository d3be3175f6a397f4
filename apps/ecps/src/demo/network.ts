// SPDX-License-Identifier: Apache-2.0
// The network the demo's nodes share: real MQTT, through an embedded broker unless `--broker` names one.
import { TransportError } from '@ecps/core';
import type { Transport } from '@ecps/core';
import { startBroker } from '@ecps/broker';
import { mqttTransport } from '@ecps/transport-mqtt';

export interface DemoNetworkOptions {
  /** An external broker URL (`ecps demo --broker mqtt://host:port`). */
  broker?: string;
  /** How long to wait for an external broker before giving up. Default 2 s. */
  brokerTimeoutMs?: number;
}

export interface DemoNetwork {
  /** Human-readable description for the demo's first line. */
  readonly description: string;
  /** True when the demo started its own broker. */
  readonly embedded: boolean;
  readonly brokerUrl?: string;
  transportFor(nodeId: string): Transport;
  close(): Promise<void>;
}

/**
 * Every node gets its own MQTT connection. MQTT 3.1.1 (structured CloudEvents) is used in both cases: the embedded
 * aedes broker speaks only 3.1.1, and every external broker (Mosquitto, EMQX, `ecps broker`) accepts it.
 * @throws TransportError UNAVAILABLE when the external broker refuses the connection or does not answer in time.
 */
export async function createDemoNetwork(options: DemoNetworkOptions): Promise<DemoNetwork> {
  if (options.broker !== undefined) await probeBroker(options.broker, options.brokerTimeoutMs ?? 2_000);
  const broker = options.broker === undefined ? await startBroker({ port: 0 }) : undefined;
  const url = options.broker ?? broker!.url;
  return {
    description: broker
      ? `MQTT through an embedded broker at ${url} (started for this run; --broker URL uses yours)`
      : `MQTT through the broker at ${url}`,
    embedded: broker !== undefined,
    brokerUrl: url,
    transportFor: (nodeId) => mqttTransport({ url, nodeId, protocolVersion: 4, connectTimeoutMs: 10_000 }),
    close: async () => broker?.close(),
  };
}

/** One connection without retries: a refused connection fails at once, a silent host after `timeoutMs`. */
async function probeBroker(url: string, timeoutMs: number): Promise<void> {
  const probe = mqttTransport({ url, nodeId: 'ecps-demo-probe', protocolVersion: 4, connectTimeoutMs: timeoutMs, reconnect: false });
  try {
    await probe.connect();
  } catch (cause) {
    // the transport's error carries the socket's (ECONNREFUSED, ENOTFOUND, a CONNACK refusal); none: a timeout
    const inner = (cause as { cause?: unknown }).cause;
    const why = inner instanceof Error ? inner.message : `no answer within ${timeoutMs} ms`;
    throw new TransportError('UNAVAILABLE', `cannot reach the MQTT broker at ${url}: ${why}`, { cause, details: { url } });
  } finally {
    await probe.close().catch(() => undefined);
  }
}
