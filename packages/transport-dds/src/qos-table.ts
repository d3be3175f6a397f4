// SPDX-License-Identifier: Apache-2.0
// DDS QoS per traffic class, from spec §8 (reliability level -> reliability + durability) and §9 (history):
//
//   topic                  | reliability / durability         | history
//   eap                    | RELIABLE / TRANSIENT_LOCAL       | KEEP_LAST(4), lifespan = the profile's EAP timeout
//   mcp                    | RELIABLE / TRANSIENT_LOCAL       | KEEP_LAST(4)
//   request/reply/stream   | RELIABLE / TRANSIENT_LOCAL       | KEEP_ALL (bounded), lifespan = the request timeout
//   others, level 0 (LTP)  | BEST_EFFORT / VOLATILE           | KEEP_ALL, max_samples 256
//   others, level 1 or 2   | RELIABLE / TRANSIENT_LOCAL       | KEEP_ALL (bounded)
//
// The level is the publish's `qos`, else the event type's row of the §8 table (LTP 0, MCP, MEP and EAP 1, others 1);
// it picks reliability and durability. The topic picks the history. Level 2 (PERSISTENT) maps to TRANSIENT_LOCAL: Cyclone has no durability service in this build, and a
// PERSISTENT writer would promise what nothing keeps.
import { DEFAULT_QOS, EVENT_TYPES, type QosLevel } from '@ecps/core';
import type { NativeQos } from './native';

export type TrafficClass = 'eap' | 'mcp' | 'rpc' | 'other';

export interface QosLimits {
  /** Samples a KEEP_ALL reader or writer holds (per entity) before it pushes back. */
  maxSamples: number;
  /** Samples per sender a TRANSIENT_LOCAL writer keeps for late joiners (rpc, other). */
  lateJoinerDepth: number;
  /** Lifespan of EAP samples (the profile's EAP timeout). */
  eapLifespanMs: number;
  /** Lifespan of request/reply/stream samples (the request timeout). */
  rpcLifespanMs: number;
}

/**
 * The class of a topic outside request/reply. It is a property of the topic, not of each event, so one publisher's
 * events on one topic go through one writer (per reliability level) and keep their order. `eap` and `mcp` are the
 * spec's topics (also as the last level under a prefix, e.g. `site-1/eap`).
 */
export function trafficClassOfTopic(topic: string): TrafficClass {
  const last = topic.slice(topic.lastIndexOf('/') + 1);
  return last === 'eap' ? 'eap' : last === 'mcp' ? 'mcp' : 'other';
}

/** The reliability level the spec's table gives an event type when the caller gives none (LTP 0, others 1). */
export function defaultLevelOf(type: string): QosLevel {
  if (type === EVENT_TYPES.ltp || type === EVENT_TYPES.ltpChunk || type === EVENT_TYPES.ltpAck) return DEFAULT_QOS.LTP.reliability as QosLevel;
  if (type === EVENT_TYPES.eap) return DEFAULT_QOS.EAP.reliability as QosLevel;
  if (type === EVENT_TYPES.mcp) return DEFAULT_QOS.MCP.reliability as QosLevel;
  return 1;
}

const LTP_MAX_SAMPLES = 256;
const KEEP_LAST_DEPTH = 4;

function history(cls: TrafficClass, level: QosLevel, limits: QosLimits): NativeQos {
  if (cls === 'eap' || cls === 'mcp') return { historyDepth: KEEP_LAST_DEPTH };
  const maxSamples = level === 0 ? Math.min(LTP_MAX_SAMPLES, limits.maxSamples) : limits.maxSamples;
  return { historyDepth: -1, maxSamples };
}

function reliabilityAndDurability(level: QosLevel): NativeQos {
  return level === 0 ? { reliability: 0, durability: 0 } : { reliability: 1, durability: 1 };
}

/** Writer QoS for `cls` at `level`. Writes never block: a full history is reported and retried by the transport. */
export function writerQos(cls: TrafficClass, level: QosLevel, limits: QosLimits): NativeQos {
  const qos: NativeQos = { ...reliabilityAndDurability(level), ...history(cls, level, limits), maxBlockingMs: 0 };
  if (level > 0) qos.durabilityServiceDepth = cls === 'eap' || cls === 'mcp' ? KEEP_LAST_DEPTH : limits.lateJoinerDepth;
  if (cls === 'eap') qos.lifespanMs = limits.eapLifespanMs;
  if (cls === 'rpc') qos.lifespanMs = limits.rpcLifespanMs;
  return qos;
}

/**
 * Reader QoS for a subscription at `level` (0: BEST_EFFORT, which also receives from RELIABLE writers; 1 and 2:
 * RELIABLE + TRANSIENT_LOCAL, which receives only from RELIABLE writers and gets their retained history).
 */
export function readerQos(cls: TrafficClass, level: QosLevel, limits: QosLimits): NativeQos {
  return { ...reliabilityAndDurability(level), ...history(cls, level, limits) };
}
