// SPDX-License-Identifier: Apache-2.0
// Deterministic message k of the crash test: sizes vary from a few bytes to ~4 MB so kills land mid-write.
export function crashMessage(k: number): Uint8Array {
  const size = k % 4 === 3 ? 4_000_000 + (k % 1000) : 16 + ((k * 7919) % 3000);
  const out = new Uint8Array(size).fill((k * 13 + 7) & 0xff);
  const view = new DataView(out.buffer);
  view.setUint32(0, k, true);
  view.setUint32(size - 4, k ^ 0x5a5a5a5a, true);
  return out;
}
