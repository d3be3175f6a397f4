// SPDX-License-Identifier: Apache-2.0
// CRC-32/ISO-HDLC (spec §4.3) via node:zlib's native implementation.
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32/ISO-HDLC of `data` as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  return zlibCrc32(data) >>> 0;
}
