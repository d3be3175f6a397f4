// SPDX-License-Identifier: Apache-2.0
// The network the demo's nodes share: real MQTT through an embedded broker (or the one `--broker` names), or Cyclone
// DDS on loopback (`--transport dds`).
import { randomBytes } from 'node:crypto';
import { TransportError } from '@ecps/core';
import type { ProfileName, Transport } from '@ecps/core';
import { startBroker } from '@ecps/broker';
import { ddsBindingStatus, ddsTransport } from '@ecps/transport-dds';
import { mqttTransport } from '@ecps/transport-mqtt';
import { probeBroker } from '../broker-probe';

export type DemoTransport = 'mqtt' | 'dds';

export interface DemoNetworkOptions {
  /** What the nodes talk over. Default `mqtt`. */
  transport?: DemoTransport;
  /** An external broker URL (`ecps demo --broker mqtt://host:port`); MQTT only. */
  broker?: string;
  /** How long to wait for an external broker before giving up. Default 2 s. */
  brokerTimeoutMs?: number;
  /** The DDS domain id (`--domain`). Default 0; a discovery tag of the run's own keeps concurrent demos apart. */
  domainId?: number;
}

export interface DemoNetwork {
  /** Human-readable description for the demo's first line. */
  readonly description: string;
  /** True when the demo started its own broker. */
  readonly embedded: boolean;
  /** The conformance profile the demo's nodes run (one that allows this transport, spec §8). */
  readonly profile: ProfileName;
  readonly brokerUrl?: string;
  transportFor(nodeId: string): Transport;
  close(): Promise<void>;
}

/**
 * The network of one demo run.
 * @throws TransportError `UNAVAILABLE` when the external broker refuses the connection or does not answer in time;
 *   `CONFIG_INVALID` for `--broker` with DDS; `TRANSPORT_UNAVAILABLE` (naming what to install) for DDS where Cyclone
 *   DDS or the binding is missing.
 */
export async function createDemoNetwork(options: DemoNetworkOptions): Promise<DemoNetwork> {
  if (options.transport === 'dds') return ddsNetwork(options);
  return mqttNetwork(options);
}

/**
 * Every node gets its own MQTT connection. MQTT 3.1.1 (structured CloudEvents) is used in both cases: the embedded
 * aedes broker speaks only 3.1.1, and every external broker (Mosquitto, EMQX, `ecps broker`) accepts it. MQTT is
 * allowed only in the cloud-fleet profile.
 */
async function mqttNetwork(options: DemoNetworkOptions): Promise<DemoNetwork> {
  if (options.broker !== undefined) await probeBroker(options.broker, options.brokerTimeoutMs ?? 2_000);
  const broker = options.broker === undefined ? await startBroker({ port: 0 }) : undefined;
  const url = options.broker ?? broker!.url;
  return {
    description: broker
      ? `MQTT through an embedded broker at ${url} (started for this run; --broker URL uses yours)`
      : `MQTT through the broker at ${url}`,
    embedded: broker !== undefined,
    profile: 'cloud-fleet',
    brokerUrl: url,
    transportFor: (nodeId) => mqttTransport({ url, nodeId, protocolVersion: 4, connectTimeoutMs: 10_000 }),
    close: async () => broker?.close(),
  };
}

/**
 * Every node gets its own DDS participant. Where `CYCLONEDDS_URI` names a configuration Cyclone uses it; otherwise the
 * demo stays on 127.0.0.1 (Cyclone's default would use the external interface and multicast), with unicast discovery
 * and a discovery tag of this run's own.
 */
function ddsNetwork(options: DemoNetworkOptions): DemoNetwork {
  if (options.broker) throw new TransportError('CONFIG_INVALID', '--broker is for MQTT; DDS needs no broker');
  const status = ddsBindingStatus();
  if (!status.available) throw new TransportError('TRANSPORT_UNAVAILABLE', status.reason);
  const domainId = options.domainId ?? 0;
  const config = process.env['CYCLONEDDS_URI'] ? undefined : loopbackConfig(`ecps-demo-${randomBytes(6).toString('hex')}`);
  return {
    description: `DDS (Cyclone DDS ${status.version}) ${config ? 'on loopback' : 'as CYCLONEDDS_URI configures it'}, domain ${domainId}`,
    embedded: false,
    profile: 'standard',
    transportFor: (nodeId) => ddsTransport({ nodeId, domainId, profile: 'standard', ...(config ? { config } : {}) }),
    close: async () => undefined,
  };
}

function loopbackConfig(tag: string): string {
  return [
    '<CycloneDDS><Domain id="any">',
    '<General><Interfaces><NetworkInterface address="127.0.0.1" multicast="false"/></Interfaces><AllowMulticast>false</AllowMulticast></General>',
    `<Discovery><Tag>${tag}</Tag><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>64</MaxAutoParticipantIndex>`,
    '<Peers><Peer address="127.0.0.1"/></Peers></Discovery>',
    '</Domain></CycloneDDS>',
  ].join('');
}
