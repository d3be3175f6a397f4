// SPDX-License-Identifier: Apache-2.0
// CRC-32/ISO-HDLC (zlib crc32, check value 0xCBF43926) of spec §4.3. node:zlib has it from Node 20.15/22.2;
// older runtimes use the table below.
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function tableCrc32(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data` as an unsigned 32-bit number; `value` continues a CRC of the bytes before `data`. */
export const crc32: (data: Uint8Array, value?: number) => number = native ? (data, value = 0) => native(data, value) >>> 0 : tableCrc32;

/** Bytes per step of {@link copyWithCrc32}: small enough that a copied piece is still in cache when it is summed. */
const FUSED_STEP_BYTES = 64 * 1024;

/**
 * Copies `source` into `target` at `offset` and returns the CRC-32 of `source` (continuing `value`, the CRC of the
 * bytes before it), in one pass over memory: each piece is summed while it is still in cache from the copy.
 */
export function copyWithCrc32(source: Uint8Array, target: Uint8Array, offset = 0, value = 0): number {
  for (let start = 0; start < source.length; start += FUSED_STEP_BYTES) {
    const piece = source.length <= FUSED_STEP_BYTES ? source : source.subarray(start, start + FUSED_STEP_BYTES);
    target.set(piece, offset + start);
    value = crc32(piece, value);
  }
  return value;
}

/** The table implementation, exported for tests that compare it with node:zlib. */
export { tableCrc32 };

/** CRC-32 as the 4 big-endian bytes `header.checksum` carries. */
export function crc32Bytes(data: Uint8Array): Uint8Array {
  const value = crc32(data);
  return new Uint8Array([value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
}
