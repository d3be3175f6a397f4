// SPDX-License-Identifier: Apache-2.0
// W3C trace context on CloudEvents (spec §9): `traceparent` / `tracestate` extensions, or a trace id derived
// from the message id when a peer sent none.
import { createHash } from 'node:crypto';
import { cryptoRandom, isUuid, toHex, type EcpsEvent, type RandomSource } from '@ecps/core';

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: number;
}

/** Parses a version-00 `traceparent`; undefined when malformed or all-zero. */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  const m = value ? TRACEPARENT_RE.exec(value) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, flags: parseInt(m[3]!, 16) };
}

export function formatTraceparent(tp: TraceParent): string {
  return `00-${tp.traceId}-${tp.spanId}-${tp.flags.toString(16).padStart(2, '0')}`;
}

/**
 * The trace context of a received event: its own `traceparent` when valid, else one derived from the event id
 * (the UUID's 16 bytes, or the first 16 bytes of SHA-256(id) for other ids) with a fresh span id.
 */
export function traceContextOf(event: EcpsEvent, random: RandomSource = cryptoRandom): TraceParent {
  const own = parseTraceparent(event.extensions?.['traceparent']);
  if (own) return own;
  const traceId = isUuid(event.id)
    ? event.id.replace(/-/g, '').toLowerCase()
    : createHash('sha256').update(event.id, 'utf8').digest('hex').slice(0, 32);
  return { traceId, spanId: toHex(random.bytes(8)), flags: 1 };
}
