// SPDX-License-Identifier: Apache-2.0
// Walks the buffer one native take() returns: u32 count, then 24 bytes of sample info per sample (u32 size,
// u32 flags, i64 source timestamp, u64 publication handle), then the samples' XCDR bytes in the same order.

const INFO_BYTES = 24;
const VALID_DATA = 1;

/** Calls `fn` for each sample that carries data (disposals and unregistrations carry none). Returns the count taken. */
export function forEachSample(buf: Buffer, fn: (start: number, end: number, info: number) => void): number {
  const n = buf.readUInt32LE(0);
  let at = 4 + n * INFO_BYTES;
  for (let i = 0; i < n; i++) {
    const info = 4 + i * INFO_BYTES;
    const size = buf.readUInt32LE(info);
    if (buf.readUInt32LE(info + 4) & VALID_DATA) fn(at, at + size, info);
    at += size;
  }
  return n;
}

/** The writer's source timestamp of the sample whose info is at `info`, in ns since the Unix epoch. */
export function sourceTimestamp(buf: Buffer, info: number): bigint {
  return buf.readBigInt64LE(info + 8);
}

/** The publication (writer) handle of the sample whose info is at `info`, as the receiving participant knows it. */
export function publicationHandle(buf: Buffer, info: number): bigint {
  return buf.readBigUInt64LE(info + 16);
}
