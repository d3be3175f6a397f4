// SPDX-License-Identifier: Apache-2.0
// Idempotency tokens, profile sw4rm-idempotency-bytes-v1 (spec §3.6).
import { createHash } from 'node:crypto';

/** Name of the token profile implemented here. */
export const IDEMPOTENCY_PROFILE = 'sw4rm-idempotency-bytes-v1';

/**
 * `producer_id:operation:hash16` where hash16 = first 16 hex chars of
 * SHA-256(producer ‖ LF ‖ operation ‖ LF ‖ canonicalBytes). Canonicalising the bytes is the caller's job.
 * @throws TypeError when `producerId` or `operation` contains LF (the separator would become ambiguous).
 */
export function idempotencyToken(producerId: string, operation: string, canonicalBytes: Uint8Array = new Uint8Array()): string {
  if (producerId.includes('\n')) throw new TypeError('idempotency token: producer_id must not contain LF');
  if (operation.includes('\n')) throw new TypeError('idempotency token: operation must not contain LF');
  const hash = createHash('sha256')
    .update(Buffer.from(producerId, 'utf8'))
    .update(Buffer.from([0x0a]))
    .update(Buffer.from(operation, 'utf8'))
    .update(Buffer.from([0x0a]))
    .update(canonicalBytes)
    .digest('hex');
  return `${producerId}:${operation}:${hash.slice(0, 16)}`;
}
