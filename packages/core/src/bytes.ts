// SPDX-License-Identifier: Apache-2.0
// Byte helpers that work on plain Uint8Array (no Buffer), so they run wherever the packages do.

/** The parts one after another in one fresh array (`total` when the caller already knows the length). */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  let size = total ?? 0;
  if (total === undefined) for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
