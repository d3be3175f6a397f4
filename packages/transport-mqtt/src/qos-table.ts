// SPDX-License-Identifier: Apache-2.0
// Per-message MQTT QoS from the spec §8 tables: MCP, MEP and EAP are RELIABLE (1), LTP is BEST_EFFORT (0).
import type { QosLevel } from '@ecps/core';

const TABLE: ReadonlyArray<readonly [prefix: string, qos: QosLevel]> = [
  ['ecps.mcp.', 1],
  ['ecps.eap.', 1],
  ['ecps.mep.', 1],
  ['ecps.ltp.', 0],
  ['ecps.stream.', 1],
];

/**
 * The QoS for an event `type`: an exact entry of `overrides` first, then the spec table, then `fallback`
 * (ext types such as `ecps.ext.*`).
 */
export function qosForType(type: string, overrides: Readonly<Record<string, QosLevel>>, fallback: QosLevel): QosLevel {
  const override = overrides[type];
  if (override !== undefined) return override;
  for (const [prefix, qos] of TABLE) if (type.startsWith(prefix)) return qos;
  return fallback;
}
