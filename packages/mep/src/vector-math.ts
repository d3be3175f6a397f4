// SPDX-License-Identifier: Apache-2.0
// Spec §7.2 arithmetic: flatten any dtype to float64 and L2-normalise (a zero vector stays zero).
import type { LtpDtype } from '@ecps/core';
import { f16ToNumber } from '@ecps/ltp';
import type { RawTensor } from './ltp-frame';

/** The tensor's elements as float64 in C order (booleans as 0/1; 64-bit integers rounded to the nearest double). */
export function flattenToFloat64(tensor: RawTensor): Float64Array {
  const { bytes, dtype } = tensor;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = ITEM_SIZE[dtype];
  const n = bytes.byteLength / size;
  const out = new Float64Array(n);
  const read = READERS[dtype];
  for (let i = 0; i < n; i++) out[i] = read(view, i * size);
  return out;
}

/** Scales `v` in place to unit L2 norm; leaves an all-zero (or non-finite-norm) vector all zero. */
export function normaliseInPlace(v: Float64Array): Float64Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm === 0 || !Number.isFinite(norm)) {
    v.fill(0);
    return v;
  }
  for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

const ITEM_SIZE: Record<LtpDtype, number> = {
  f16: 2, f32: 4, f64: 8, i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, i64: 8, u64: 8, bool: 1,
};

type Reader = (view: DataView, offset: number) => number;

const READERS: Record<LtpDtype, Reader> = {
  f16: (v, o) => f16ToNumber(v.getUint16(o, true)),
  f32: (v, o) => v.getFloat32(o, true),
  f64: (v, o) => v.getFloat64(o, true),
  i8: (v, o) => v.getInt8(o),
  u8: (v, o) => v.getUint8(o),
  i16: (v, o) => v.getInt16(o, true),
  u16: (v, o) => v.getUint16(o, true),
  i32: (v, o) => v.getInt32(o, true),
  u32: (v, o) => v.getUint32(o, true),
  i64: (v, o) => Number(v.getBigInt64(o, true)),
  u64: (v, o) => Number(v.getBigUint64(o, true)),
  bool: (v, o) => (v.getUint8(o) !== 0 ? 1 : 0),
};

