// SPDX-License-Identifier: Apache-2.0
// Tensors as typed arrays with a shape and one of the 12 dtypes of spec §4.1, and their wire bytes
// (C order, little-endian, no padding).
import { LTP_DTYPES, ValidationError, assertDtype, tensorByteSize, type LtpDtype } from '@ecps/core';

/** The typed array that holds each dtype. `f16` keeps raw IEEE binary16 bits; `bool` is 0/1 bytes. */
export interface TensorArrays {
  f16: Uint16Array;
  f32: Float32Array;
  f64: Float64Array;
  i8: Int8Array;
  u8: Uint8Array;
  i16: Int16Array;
  u16: Uint16Array;
  i32: Int32Array;
  u32: Uint32Array;
  i64: BigInt64Array;
  u64: BigUint64Array;
  bool: Uint8Array;
}

export type TensorData = TensorArrays[LtpDtype];

/** A dense tensor: `data` holds `prod(shape)` elements in C (row-major) order. */
export interface Tensor<D extends LtpDtype = LtpDtype> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TensorArrays[D];
}

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData; new (length: number): TensorData };

const CTORS: Record<LtpDtype, ArrayCtor> = {
  f16: Uint16Array,
  f32: Float32Array,
  f64: Float64Array,
  i8: Int8Array,
  u8: Uint8Array,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  bool: Uint8Array,
} as unknown as Record<LtpDtype, ArrayCtor>;

/** True when this host stores multi-byte numbers little-endian (every platform Node ships for today). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Number of elements of a shape (empty shape = 1 element). Throws `TENSOR_SIZE_MISMATCH` for a bad dimension. */
export function elementCount(shape: readonly number[]): number {
  const bytes = tensorByteSize(shape, 'u8');
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `shape [${shape.join(', ')}] has too many elements`);
  }
  return Number(bytes);
}

/**
 * Builds a tensor, checking the dtype, the shape and that `data` is the dtype's array type with `prod(shape)` elements.
 * Throws `UNSUPPORTED_DTYPE` or `TENSOR_SIZE_MISMATCH` (also for a wrong array type).
 */
export function createTensor<D extends LtpDtype>(dtype: D, shape: readonly number[], data: TensorArrays[D]): Tensor<D> {
  assertDtype(dtype);
  const count = elementCount(shape);
  const ctor = CTORS[dtype];
  if (!(data instanceof (ctor as unknown as typeof Uint8Array))) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `dtype ${dtype} needs a ${ctor.name}, got ${data.constructor.name}`);
  }
  if (data.length !== count) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `shape [${shape.join(', ')}] needs ${count} elements, got ${data.length}`, {
      details: { expected: count, actual: data.length },
    });
  }
  return { dtype, shape: [...shape], data };
}

function swapInPlace(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

/**
 * The tensor's wire bytes (C order, little-endian). On little-endian hosts this is a view of `data` (no copy);
 * `bool` elements are normalised to 0x00/0x01 (a copy only if some element is neither).
 */
export function tensorToBytes(tensor: Tensor): Uint8Array {
  const { data } = tensor;
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (tensor.dtype === 'bool' && bytes.some((b) => b > 1)) bytes = bytes.map((b) => (b === 0 ? 0 : 1));
  if (!HOST_IS_LITTLE_ENDIAN) {
    bytes = copyBytes(bytes);
    swapInPlace(bytes, LTP_DTYPES[tensor.dtype]);
  }
  return bytes;
}

/**
 * Reads wire bytes (C order, little-endian) as a tensor. Views `bytes` when its alignment allows and the host is
 * little-endian, else copies. Throws `UNSUPPORTED_DTYPE` or `TENSOR_SIZE_MISMATCH`.
 */
export function tensorFromBytes(dtype: string, shape: readonly number[], bytes: Uint8Array): Tensor {
  assertDtype(dtype);
  const itemSize = LTP_DTYPES[dtype];
  const expected = tensorByteSize(shape, dtype);
  if (BigInt(bytes.length) !== expected) {
    throw new ValidationError('TENSOR_SIZE_MISMATCH', `dtype ${dtype} shape [${shape.join(', ')}] needs ${expected} bytes, got ${bytes.length}`, {
      details: { expected: expected.toString(), actual: bytes.length },
    });
  }
  const ctor = CTORS[dtype];
  const count = bytes.length / itemSize;
  let source = bytes;
  if (!HOST_IS_LITTLE_ENDIAN && itemSize > 1) {
    source = copyBytes(bytes);
    swapInPlace(source, itemSize);
  } else if (bytes.byteOffset % itemSize !== 0) {
    source = copyBytes(bytes);
  }
  return { dtype, shape: [...shape], data: new ctor(source.buffer, source.byteOffset, count) };
}

/** A copy in a fresh, aligned ArrayBuffer of its own, not zero-filled first (the copy overwrites every byte). */
function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(Buffer.allocUnsafeSlow(bytes.length).buffer, 0, bytes.length);
  copy.set(bytes);
  return copy;
}

/** Converts IEEE binary16 bits to a number (for reading `f16` tensors). */
export function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Converts a number to IEEE binary16 bits, rounding to nearest even (for writing `f16` tensors). */
export function numberToF16(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  // rounding may carry into the exponent, up to infinity (0x7c00), which is the correct result
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}
