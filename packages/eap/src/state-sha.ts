// SPDX-License-Identifier: Apache-2.0
// state_sha (spec §5.2): the SHA-256 of the perceptual snapshot the decision used, supplied by the caller, either as
// snapshot bytes (hashed here) or as a ready digest. Never invented: no snapshot and no digest is an error.
import { createHash } from 'node:crypto';
import { ValidationError, assertStateSha } from '@ecps/core';

/** Hashes a snapshot into a 32-byte digest. */
export type StateHasher = (snapshot: Uint8Array) => Uint8Array;

/** SHA-256, the spec's hasher. */
export const sha256Hasher: StateHasher = (snapshot) => new Uint8Array(createHash('sha256').update(snapshot).digest());

/** Where an action's state_sha comes from: exactly one of `snapshot` or `stateSha`. */
export interface StateInput {
  /** Perceptual snapshot bytes, hashed with `hasher`. */
  snapshot?: Uint8Array;
  /** A ready 32-byte digest. */
  stateSha?: Uint8Array;
  /** Default SHA-256. */
  hasher?: StateHasher;
}

/**
 * The state_sha of an action. Throws `MISSING_STATE_SHA` with neither input, `INVALID_ARGUMENT` with both,
 * `INVALID_STATE_SHA` unless the digest (given or hashed) is exactly 32 bytes.
 */
export function resolveStateSha(input: StateInput): Uint8Array {
  if (input.snapshot !== undefined && input.stateSha !== undefined) {
    throw new ValidationError('INVALID_ARGUMENT', 'give either a snapshot or a state_sha, not both');
  }
  let digest: Uint8Array;
  if (input.stateSha !== undefined) digest = input.stateSha;
  else if (input.snapshot !== undefined) digest = (input.hasher ?? sha256Hasher)(input.snapshot);
  else throw new ValidationError('MISSING_STATE_SHA', 'an action needs the perceptual snapshot or its state_sha; none was given');
  assertStateSha(digest);
  return digest;
}

/**
 * The recommended snapshot bytes (spec §5.2): the LTP messages the decision used, in receive order, each as
 * u32le(len) ‖ exact received bytes.
 */
export function ltpSnapshot(frames: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const f of frames) total += 4 + f.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const f of frames) {
    view.setUint32(offset, f.length, true);
    out.set(f, offset + 4);
    offset += 4 + f.length;
  }
  return out;
}
