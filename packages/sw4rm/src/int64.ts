// SPDX-License-Identifier: Apache-2.0
// 64-bit fields never pass through a lossy JS number (spec §2.4).

const UINT64_MAX = 18446744073709551615n;
const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

/** A 64-bit value as callers may give it: bigint, decimal string, or a safe-integer number. */
export type Int64Like = bigint | string | number;

function toBigInt(value: Int64Like, field: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${field}: ${value} is not a safe integer; pass a bigint or decimal string`);
    return BigInt(value);
  }
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return BigInt(value.trim());
  throw new RangeError(`${field}: ${String(value)} is not an integer (expected a safe integer, bigint or decimal string)`);
}

/**
 * Parses a uint64 field. Throws `RangeError` for unsafe numbers, non-integers and values outside 0…2^64−1.
 */
export function toUint64(value: Int64Like, field = 'uint64'): bigint {
  const v = toBigInt(value, field);
  if (v < 0n || v > UINT64_MAX) throw new RangeError(`${field}: ${v} is outside the uint64 range`);
  return v;
}

/**
 * Parses an int64 field. Throws `RangeError` for unsafe numbers, non-integers and values outside the int64 range.
 */
export function toInt64(value: Int64Like, field = 'int64'): bigint {
  const v = toBigInt(value, field);
  if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`${field}: ${v} is outside the int64 range`);
  return v;
}
