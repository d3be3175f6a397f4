// SPDX-License-Identifier: Apache-2.0
// Two or three real Mosquittos joined by bridges (a hub and one or two leaves, every topic bridged both ways), the
// way a fleet that outgrows one broker is deployed. Each is a startMosquitto() process, stopped by process id.
import { randomUUID } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoHandle, type MosquittoOptions } from './mosquitto';
import { sleep } from './wait';

export interface MosquittoBridgeOptions {
  /** 2: a leaf bridged to the hub; 3: two leaves bridged to one hub (leaf ↔ hub ↔ leaf). Default 2. */
  brokers?: 2 | 3;
  /** Topic patterns bridged both ways. Default `['#']` (every topic, `$SYS` aside). */
  topics?: readonly string[];
  /** QoS of the bridge's own subscriptions and forwards. Default 1. */
  bridgeQos?: 0 | 1 | 2;
  /** `mqttv50` (default: properties and user properties cross the bridge) or `mqttv311`. */
  protocol?: 'mqttv50' | 'mqttv311';
  /**
   * Persistence on every broker (saved on every change) and persistent bridge sessions (`cleansession false`). With
   * `mqttv311` bridges, QoS 1 messages queued for a bridge then survive a kill -9 and restart of the hub; Mosquitto's
   * MQTT 5 bridges send no Session Expiry Interval, so the hub still forgets their sessions. Default false.
   */
  persistence?: boolean;
  /** Client connections each broker accepts (see {@link MosquittoOptions.maxConnections}). */
  maxConnections?: number;
}

export interface MosquittoBridgeHandle {
  /** The broker every leaf bridges to. */
  readonly hub: MosquittoHandle;
  /** One or two brokers, each bridged to the hub. */
  readonly leaves: readonly MosquittoHandle[];
  /** Leaves first, then the hub. */
  readonly brokers: readonly MosquittoHandle[];
  /** Resolves once every bridge carries messages both ways again (after a broker restart, say). */
  bridged(): Promise<void>;
  /** The bridge stanza of leaf `index`, as written to its config (for documentation and debugging). */
  bridgeConfig(index: number): string[];
  /** Stops every broker (leaves first) and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The Mosquitto configuration of a bridge from a leaf to the hub on `hubPort`: one connection carrying `topics` both
 * ways. Mosquitto reconnects a dropped bridge after `restart_timeout`; with `persistence` the bridge asks for a
 * persistent session, and QoS 1 messages published while the hub is away are queued on the leaf and forwarded on
 * reconnection.
 */
export function bridgeStanza(name: string, hubPort: number, options: Pick<MosquittoBridgeOptions, 'topics' | 'bridgeQos' | 'protocol' | 'persistence'> = {}): string[] {
  const qos = options.bridgeQos ?? 1;
  const persistent = options.persistence ?? false;
  const topics = options.topics ?? ['#'];
  return [
    `connection ${name}`,
    `address 127.0.0.1:${hubPort}`,
    `bridge_protocol_version ${options.protocol ?? 'mqttv50'}`,
    ...topics.map((topic) => `topic ${topic} both ${qos}`),
    ...(topics.includes('#') ? [] : [`topic ${PROBE_TOPIC}/# both 0`]),
    `remote_clientid ${name}`,
    `local_clientid ${name}-local`,
    `cleansession ${persistent ? 'false' : 'true'}`,
    // a message that came over the bridge is not sent back over it (bridges announce themselves to the hub)
    'try_private true',
    'notifications false',
    'keepalive_interval 5',
    // reconnect quickly after the hub comes back (Mosquitto's default waits 5 to 30 s)
    'restart_timeout 1 2',
    'start_type automatic',
  ];
}

/** Starts the hub, then each leaf with a bridge to it, and waits until every bridge is connected. */
export async function startMosquittoBridge(options: MosquittoBridgeOptions = {}): Promise<MosquittoBridgeHandle> {
  const count = options.brokers ?? 2;
  const common: MosquittoOptions = options.maxConnections !== undefined ? { maxConnections: options.maxConnections + 2 } : {};
  const started: MosquittoHandle[] = [];
  const stanzas: string[][] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const broker of [...started].reverse()) await broker.stop();
  };
  try {
    const hub = await startMosquitto({ ...common, persistence: options.persistence ?? false });
    started.push(hub);
    const leaves: MosquittoHandle[] = [];
    for (let i = 0; i < count - 1; i++) {
      const stanza = bridgeStanza(`ecps-bridge-leaf${i}`, hub.port, options);
      stanzas.push(stanza);
      // the leaf keeps the bridge's outgoing queue: on disk too when persistent
      const leaf = await startMosquitto({ ...common, persistence: options.persistence ?? false, extraConfig: stanza });
      started.push(leaf);
      leaves.push(leaf);
    }
    const bridged = () => Promise.all(leaves.map((leaf) => waitForBridge(leaf, hub))).then(() => undefined);
    await bridged();
    return {
      hub,
      leaves,
      brokers: [...leaves, hub],
      bridgeConfig: (index) => [...stanzas[index]!],
      bridged,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Probe messages go here; bridged even when `topics` leaves it out. */
const PROBE_TOPIC = 'ecps-testkit/bridge-probe';

/**
 * Resolves once a message crosses the bridge between `leaf` and `hub` in both directions (a probe published every
 * 100 ms until it arrives); throws after `timeoutMs`.
 */
export async function waitForBridge(leaf: MosquittoHandle, hub: MosquittoHandle, timeoutMs = 15_000): Promise<void> {
  const clients = [leaf, hub].map((broker) => connect(broker.url, { protocolVersion: 5, reconnectPeriod: 100, clientId: `ecps-probe-${randomUUID().slice(0, 8)}` }));
  try {
    await Promise.all(clients.map((client) => client.subscribeAsync(`${PROBE_TOPIC}/#`, { qos: 0 })));
    const cross = async (from: MqttClient, to: MqttClient, direction: string) => {
      const tag = `${PROBE_TOPIC}/${randomUUID()}`;
      const arrived = new Promise<void>((resolve) => to.on('message', (topic) => topic === tag && resolve()));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        from.publish(tag, direction, { qos: 0 });
        if (await Promise.race([arrived.then(() => true), sleep(100).then(() => false)])) return;
        if (Date.now() > deadline) throw new Error(`mosquitto bridge not up (${direction}) after ${timeoutMs} ms`);
      }
    };
    await Promise.all([cross(clients[0]!, clients[1]!, 'leaf to hub'), cross(clients[1]!, clients[0]!, 'hub to leaf')]);
  } finally {
    await Promise.all(clients.map((client) => client.endAsync(true)));
  }
}
