// SPDX-License-Identifier: Apache-2.0
// QoS timing budgets and conformance profiles, ported exactly from spec §8 (the spec's worked values are tests).
import { ValidationError } from './errors';
import type { QosLevel } from './transport';

/** Timing budgets of every layer, in the spec's units (all floats). */
export const TIMING_BUDGETS = {
  PHYSICAL_MAX_LATENCY_MS: 1.0,
  PHYSICAL_MAX_JITTER_MS: 0.1,
  DATALINK_MAX_LATENCY_MS: 5.0,
  DATALINK_MAX_JITTER_MS: 0.5,
  NETWORK_MAX_LATENCY_MS: 10.0,
  NETWORK_MAX_JITTER_MS: 1.0,
  TRANSPORT_MAX_LATENCY_MS: 50.0,
  TRANSPORT_MAX_JITTER_MS: 5.0,
  TRANSPORT_TIMEOUT_S: 30.0,
  OBSERVABILITY_MAX_LATENCY_MS: 100.0,
  OBSERVABILITY_BATCH_INTERVAL_MS: 1000.0,
  LTP_MAX_LATENCY_MS: 100.0,
  LTP_MAX_JITTER_MS: 10.0,
  LTP_FRAME_TIMEOUT_S: 5.0,
  MCP_MAX_LATENCY_MS: 5000.0,
  MCP_MAX_JITTER_MS: 500.0,
  MCP_REQUEST_TIMEOUT_S: 30.0,
  MEP_PUT_MAX_LATENCY_MS: 200.0,
  MEP_QUERY_MAX_LATENCY_MS: 1000.0,
  MEP_MAX_JITTER_MS: 50.0,
  EAP_MAX_LATENCY_MS: 20.0,
  EAP_MAX_JITTER_MS: 2.0,
  EAP_SAFETY_TIMEOUT_S: 1.0,
  E2E_PERCEPTION_TO_ACTION_MS: 200.0,
  E2E_COGNITION_LOOP_MS: 10000.0,
} as const;

export const QOS_LEVELS = { BEST_EFFORT: 0, RELIABLE: 1, PERSISTENT: 2 } as const satisfies Record<string, QosLevel>;

export type MessageType = 'MCP' | 'LTP' | 'MEP_PUT' | 'MEP_QUERY' | 'EAP';
export type TransportKind = 'dds' | 'grpc' | 'mqtt';
export type ProfileName = 'edge-lite' | 'standard' | 'cloud-fleet';

/** Transport-specific keys merged over the type's QoS (spec's TRANSPORT_QOS_MAPPING). */
export type TransportQos =
  | { transport: 'dds'; reliability: 'BEST_EFFORT' | 'RELIABLE'; durability: 'VOLATILE' | 'TRANSIENT_LOCAL' | 'PERSISTENT' }
  | { transport: 'grpc'; timeout: number; retryPolicy?: 'exponential_backoff' }
  | { transport: 'mqtt'; qos: QosLevel };

export interface QosSettings {
  reliability: QosLevel;
  maxLatencyMs: number;
  maxJitterMs: number;
  timeoutS: number;
  retryCount: number;
  priority: number;
  transportSettings: TransportQos;
}

type BaseQos = Omit<QosSettings, 'transportSettings'>;

export const DEFAULT_QOS: Readonly<Record<MessageType, Readonly<BaseQos>>> = {
  MCP: { reliability: 1, maxLatencyMs: 5000.0, maxJitterMs: 500.0, timeoutS: 30.0, retryCount: 3, priority: 5 },
  LTP: { reliability: 0, maxLatencyMs: 100.0, maxJitterMs: 10.0, timeoutS: 5.0, retryCount: 1, priority: 7 },
  MEP_PUT: { reliability: 1, maxLatencyMs: 200.0, maxJitterMs: 50.0, timeoutS: 10.0, retryCount: 2, priority: 4 },
  MEP_QUERY: { reliability: 1, maxLatencyMs: 1000.0, maxJitterMs: 50.0, timeoutS: 15.0, retryCount: 2, priority: 6 },
  EAP: { reliability: 1, maxLatencyMs: 20.0, maxJitterMs: 2.0, timeoutS: 1.0, retryCount: 0, priority: 10 },
};

export const TRANSPORT_QOS_MAPPING: Readonly<Record<TransportKind, Readonly<Record<QosLevel, TransportQos>>>> = {
  dds: {
    0: { transport: 'dds', reliability: 'BEST_EFFORT', durability: 'VOLATILE' },
    1: { transport: 'dds', reliability: 'RELIABLE', durability: 'TRANSIENT_LOCAL' },
    2: { transport: 'dds', reliability: 'RELIABLE', durability: 'PERSISTENT' },
  },
  grpc: {
    0: { transport: 'grpc', timeout: 5.0 },
    1: { transport: 'grpc', timeout: 30.0, retryPolicy: 'exponential_backoff' },
    2: { transport: 'grpc', timeout: 60.0, retryPolicy: 'exponential_backoff' },
  },
  mqtt: {
    0: { transport: 'mqtt', qos: 0 },
    1: { transport: 'mqtt', qos: 1 },
    2: { transport: 'mqtt', qos: 2 },
  },
};

export interface ConformanceProfile {
  name: ProfileName;
  maxMessageSizeBytes: number;
  maxConcurrentConnections: number;
  supportedTransports: readonly TransportKind[];
  timingMultiplier: number;
  observabilityEnabled: boolean;
  /** Absolute `maxLatencyMs` values that replace the scaled ones. */
  qosOverrides: Readonly<Partial<Record<MessageType, { maxLatencyMs: number }>>>;
  /** Client defaults. */
  defaultTransport: TransportKind;
  sessionHours: number;
}

export const CONFORMANCE_PROFILES: Readonly<Record<ProfileName, Readonly<ConformanceProfile>>> = {
  'edge-lite': {
    name: 'edge-lite',
    maxMessageSizeBytes: 65536,
    maxConcurrentConnections: 10,
    supportedTransports: ['dds'],
    timingMultiplier: 2.0,
    observabilityEnabled: false,
    qosOverrides: { MCP: { maxLatencyMs: 10000.0 }, LTP: { maxLatencyMs: 200.0 } },
    defaultTransport: 'dds',
    sessionHours: 4,
  },
  standard: {
    name: 'standard',
    maxMessageSizeBytes: 1048576,
    maxConcurrentConnections: 100,
    supportedTransports: ['dds', 'grpc'],
    timingMultiplier: 1.0,
    observabilityEnabled: true,
    qosOverrides: {},
    defaultTransport: 'dds',
    sessionHours: 8,
  },
  'cloud-fleet': {
    name: 'cloud-fleet',
    maxMessageSizeBytes: 16777216,
    maxConcurrentConnections: 1000,
    supportedTransports: ['dds', 'grpc', 'mqtt'],
    timingMultiplier: 0.8,
    observabilityEnabled: true,
    qosOverrides: { MCP: { maxLatencyMs: 4000.0 }, MEP_QUERY: { maxLatencyMs: 800.0 } },
    defaultTransport: 'grpc',
    sessionHours: 12,
  },
};

/** The profile named `name`; throws `INVALID_ARGUMENT` for an unknown one. */
export function getProfile(name: string): ConformanceProfile {
  const profile = Object.hasOwn(CONFORMANCE_PROFILES, name) ? CONFORMANCE_PROFILES[name as ProfileName] : undefined;
  if (!profile) throw new ValidationError('INVALID_ARGUMENT', `unknown conformance profile ${JSON.stringify(name)}`);
  return profile;
}

/** A copy of the type's default QoS with the transport's mapping for its reliability level merged in. */
export function getQosForMessageType(type: string, transport: TransportKind = 'dds'): QosSettings {
  const base = Object.hasOwn(DEFAULT_QOS, type) ? DEFAULT_QOS[type as MessageType] : undefined;
  if (!base) throw new ValidationError('INVALID_ARGUMENT', `unknown message type ${JSON.stringify(type)}`);
  return { ...base, transportSettings: TRANSPORT_QOS_MAPPING[transport][base.reliability] };
}

/**
 * QoS for a type under a profile: latency, jitter and timeout scaled by the profile's timing multiplier
 * (the grpc `timeout` key is not scaled), then the profile's overrides applied as absolute values.
 */
export function getProfileQos(profile: string, type: string, transport: TransportKind = 'dds'): QosSettings {
  const qos = getQosForMessageType(type, transport);
  const p = getProfile(profile);
  qos.maxLatencyMs *= p.timingMultiplier;
  qos.maxJitterMs *= p.timingMultiplier;
  qos.timeoutS *= p.timingMultiplier;
  const override = p.qosOverrides[type as MessageType];
  if (override) qos.maxLatencyMs = override.maxLatencyMs;
  return qos;
}

/** Whether `actualMs` is within the type's latency budget under the profile (inclusive). */
export function validateTimingBudget(actualMs: number, type: string, profile: string = 'standard'): boolean {
  return actualMs <= getProfileQos(profile, type).maxLatencyMs;
}
