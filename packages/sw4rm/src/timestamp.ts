// SPDX-License-Identifier: Apache-2.0
// google.protobuf.Timestamp / Duration conversions with the spec's sign rules (§2.4).
import type { Duration } from './gen/google/protobuf/duration';
import type { Timestamp } from './gen/google/protobuf/timestamp';

/** Timestamp from epoch milliseconds: seconds floored, so nanos is always in [0, 1e9). */
export function timestampFromMs(ms: number): Timestamp {
  const whole = Math.floor(ms);
  const seconds = Math.floor(whole / 1000);
  const nanos = (whole - seconds * 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000);
  return { seconds: BigInt(seconds), nanos };
}

/** Epoch milliseconds of a Timestamp (undefined → 0). */
export function timestampToMs(ts: Timestamp | undefined): number {
  if (!ts) return 0;
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/** Duration from milliseconds: seconds truncated, both parts carry the sign of `ms`. */
export function durationFromMs(ms: number): Duration {
  const seconds = Math.trunc(ms / 1000);
  return { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1_000_000) };
}

/** Milliseconds of a Duration (undefined → `fallback`). */
export function durationToMs(d: Duration | undefined, fallback = 0): number {
  if (!d) return fallback;
  return Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1_000_000);
}
