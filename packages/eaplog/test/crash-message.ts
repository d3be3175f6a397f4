// SPDX-License-Identifier: Apache-2.0
// Deterministic message k of the crash test: sizes vary from a few bytes to ~600 KiB so kills land mid-write.
export function crashMessage(k: number): Uint8Array {
  const size = k % 7 === 3 ? 600_000 + (k % 1000) : 16 + ((k * 7919) % 3000);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, k, true);
  for (let i = 4; i < size; i++) out[i] = (k + i * 13) & 0xff;
  return out;
}
