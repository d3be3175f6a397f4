// SPDX-License-Identifier: Apache-2.0
// createNode: wires a transport, a profile and the installed layers into one node. Composition only: every
// protocol rule lives in its own package.
import {
  DEFAULT_QOS,
  ValidationError,
  cryptoRandom,
  getProfile,
  nodeSource,
  silentLogger,
  systemClock,
  type Clock,
  type ConformanceProfile,
  type EcpsEvent,
  type Logger,
  type QosLevel,
  type RandomSource,
  type Subscription,
  type Transport,
} from '@ecps/core';
import { ECPS_MESSAGES, decodeEvent, encodeEvent, type MessageKind, type MessageTypes } from '@ecps/serialization';
import { resolveNodeConfig, type NodeConfig } from './config';
import type { Ltp } from '@ecps/ltp';
import type { Mcp } from '@ecps/mcp';
import { attachLtp, type NodeLtpOptions } from './layers/ltp';
import { attachMcp, type NodeMcpOptions } from './layers/mcp';
import { applyTrust, type NodeTrust } from './layers/trust';
import { withObservability, type ObservabilityOption } from './layers/observability';
import { attachMep, type MepLayer, type MepNodeOptions } from './layers/mep';
import type { Eap } from '@ecps/eap';
import { attachEap, type NodeEapOptions } from './layers/eap';

/** What a transport factory is told about the node it serves. */
export interface TransportContext {
  nodeId: string;
  profile: ConformanceProfile;
  topicPrefix: string;
}

export interface NodeOptions {
  /** Node id, `[A-Za-z0-9._-]{1,64}` (`ECPS_NODE_ID`). */
  id?: string;
  /** Conformance profile (`ECPS_PROFILE`); default `standard`. */
  profile?: NodeConfig['profile'];
  /** Prepended to every topic (`ECPS_TOPIC_PREFIX`). */
  topicPrefix?: string;
  /** A transport, or a factory given the resolved configuration. */
  transport: Transport | ((context: TransportContext) => Transport | Promise<Transport>);
  /** Trust layer (e.g. `softwareTrust({ level: 'authenticated', keyFile, keys })` from @ecps/trust). */
  trust?: NodeTrust;
  /**
   * OpenTelemetry spans, trace context and metrics for all traffic (`@ecps/observability`): `true` for the global
   * providers, or `{ tracerProvider, meterProvider }`. Off by default; the profile's `observability_enabled` is advisory.
   */
  observability?: ObservabilityOption;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
  /** Settings of `node.ltp` (chunk size, codec, reassembly limits, ...). */
  ltp?: NodeLtpOptions;
  /** Settings of `node.mcp` (topic, QoS). */
  mcp?: NodeMcpOptions;
  /** MEP vector memory: host a MemoryStore on this node (`{ store: true }`); every node gets a client. */
  mep?: MepNodeOptions;
  /** Settings of `node.eap` (action log, result timeout, topic prefix); the action log is on by default (spec §5.2). */
  eap?: NodeEapOptions;
}

export interface PublishMessageOptions {
  /** Defaults to the message type's reliability (spec §8): LTP 0, everything else 1. */
  qos?: QosLevel;
  extensions?: Readonly<Record<string, string>>;
}

export type MessageHandler<K extends MessageKind> = (message: MessageTypes[K], event: EcpsEvent, topic: string) => void | Promise<void>;

/** A running ECPS node. Layers (`mcp`, `eap`, `ltp`, ...) are added by the packages that provide them. */
export interface EcpsNode {
  readonly id: string;
  /** `urn:ecps:<id>`. */
  readonly source: string;
  readonly profile: ConformanceProfile;
  readonly config: NodeConfig;
  /** The node's transport (the secure wrapper when a trust layer is configured). */
  readonly transport: Transport;
  /** The trust level in force (0 NONE when no trust layer is configured). */
  readonly trustLevel: number;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** Tensors: publish/subscribe with chunking, reassembly and selective repeat (`@ecps/ltp`). */
  readonly ltp: Ltp;
  /** Prompts: send/onPrompt and request/response on topic `mcp` (`@ecps/mcp`). */
  readonly mcp: Mcp;
  /** MEP: a MemoryStore client, and the store this node hosts when `mep.store` was given. */
  readonly mep: MepLayer;
  /** Actuation (spec §5): `node.eap.onAction('gripper', handler)`, `node.eap.send(...)`. */
  readonly eap: Eap;
  /** Encodes a canonical message as a CloudEvent and publishes it; returns the event sent. */
  publish<K extends MessageKind>(kind: K, topic: string, message: MessageTypes[K], options?: PublishMessageOptions): Promise<EcpsEvent>;
  /**
   * Subscribes to canonical messages of `kind`. Events of other types on the topic are skipped; undecodable
   * ones are reported to the logger and skipped, never passed to the handler.
   */
  subscribe<K extends MessageKind>(kind: K, filter: string, handler: MessageHandler<K>): Promise<Subscription>;
  /** Registers a function run (in reverse order) when the node closes. */
  onClose(fn: () => void | Promise<void>): void;
  /** Closes the layers, then the transport. Idempotent. */
  close(): Promise<void>;
}

const QOS_BY_KIND: Record<MessageKind, QosLevel> = {
  MCP: DEFAULT_QOS.MCP.reliability,
  EAP: DEFAULT_QOS.EAP.reliability,
  LTP: DEFAULT_QOS.LTP.reliability,
  LTPChunk: DEFAULT_QOS.LTP.reliability,
  LTPAck: DEFAULT_QOS.LTP.reliability,
  QueryReq: DEFAULT_QOS.MEP_QUERY.reliability,
  Ack: DEFAULT_QOS.MEP_PUT.reliability,
};

/** Transports that never leave the process, allowed under every profile. */
const IN_PROCESS_TRANSPORTS: ReadonlySet<string> = new Set(['memory']);

/**
 * Refuses a transport the profile does not list (spec §8 `supported_transports`): edge-lite is DDS only, standard
 * DDS and gRPC, cloud-fleet DDS, gRPC and MQTT. The in-process memory transport is always allowed.
 */
function assertProfileAllows(profile: ConformanceProfile, transport: Transport): void {
  const allowed: readonly string[] = profile.supportedTransports;
  if (allowed.includes(transport.kind) || IN_PROCESS_TRANSPORTS.has(transport.kind)) return;
  throw new ValidationError(
    'CONFIG_INVALID',
    `profile ${profile.name} does not allow the ${transport.kind} transport (allowed: ${allowed.join(', ')})`,
    { details: { profile: profile.name, transport: transport.kind, allowed: [...allowed] } },
  );
}

/**
 * Creates and connects a node. Configuration precedence: defaults < `ECPS_CONFIG` file < `ECPS_*` env < options.
 * Throws `INVALID_ARGUMENT` for a bad id or profile, `CONFIG_INVALID` (details `profile`, `transport`, `allowed`)
 * for a transport the profile does not allow (the transport is closed, never connected), and whatever the
 * transport's `connect()` throws.
 */
export async function createNode(options: NodeOptions): Promise<EcpsNode> {
  const { transport: transportOption, clock = systemClock, random = cryptoRandom, logger = silentLogger } = options;
  const config = resolveNodeConfig({ nodeId: options.id, profile: options.profile, topicPrefix: options.topicPrefix });
  const profile = getProfile(config.profile);
  const baseTransport =
    typeof transportOption === 'function'
      ? await transportOption({ nodeId: config.nodeId, profile, topicPrefix: config.topicPrefix })
      : transportOption;
  try {
    assertProfileAllows(profile, baseTransport);
  } catch (error) {
    await baseTransport.close().catch(() => undefined);
    throw error;
  }
  // Observability outermost: its traceparent is then signed by the trust layer, and spans see plaintext sizes.
  const transport = withObservability(await applyTrust(baseTransport, config.nodeId, options.trust), options.observability);
  try {
    await transport.connect();
  } catch (error) {
    await transport.close().catch(() => undefined); // a transport left half-connected would keep retrying
    throw error;
  }
  const source = nodeSource(config.nodeId);
  const layer = { transport, nodeId: config.nodeId, profile: config.profile, clock, random, logger };
  const ltp = attachLtp(layer, options.ltp);
  const mcp = attachMcp(layer, options.mcp);
  let eap: Eap;
  try {
    eap = await attachEap(layer, options.eap);
  } catch (error) {
    await ltp.close();
    await mcp.close();
    await transport.close().catch(() => undefined);
    throw error;
  }
  const closers: Array<() => void | Promise<void>> = [() => ltp.close(), () => mcp.close(), () => eap.close()];
  let closed = false;

  const node: Omit<EcpsNode, 'mep'> & { mep?: MepLayer } = {
    id: config.nodeId,
    source,
    profile,
    config,
    transport,
    trustLevel: options.trust?.level ?? 0,
    clock,
    random,
    logger,
    ltp,
    mcp,
    eap,
    async publish(kind, topic, message, publishOptions = {}) {
      const event = encodeEvent(kind, message, {
        source,
        clock,
        random,
        ...(publishOptions.extensions ? { extensions: publishOptions.extensions } : {}),
      });
      await transport.publish(topic, event, { qos: publishOptions.qos ?? QOS_BY_KIND[kind] });
      return event;
    },
    subscribe(kind, filter, handler) {
      const eventType = ECPS_MESSAGES[kind].eventType;
      return transport.subscribe(filter, async (event, topic) => {
        // other event types share topics (acks, stream ends): they are not for this handler
        if (event.type !== eventType) return;
        let message;
        try {
          message = decodeEvent(kind, event);
        } catch (error) {
          logger.warn('dropping undecodable event', { topic, type: event.type, source: event.source, error: String(error) });
          return;
        }
        await handler(message, event, topic);
      });
    },
    onClose(fn) {
      closers.push(fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const fn of closers.reverse()) {
        try {
          await fn();
        } catch (error) {
          logger.warn('error while closing a layer', { error: String(error) });
        }
      }
      await transport.close();
    },
  };
  try {
    node.mep = await attachMep(node, options.mep);
  } catch (error) {
    await node.close();
    throw error;
  }
  return node as EcpsNode;
}
