// SPDX-License-Identifier: Apache-2.0
// A node's identity: an Ed25519 key held by a KeyProvider (software, PKCS#11, TPM, KMS), its DeviceId, and
// the Automerge actor id of this process start.
import { toHex } from '@ecps/core';
import type { KeyProvider, RandomSource } from '@ecps/core';
import { cryptoRandom } from '@ecps/core';
import { PeatError } from '../errors';
import { deviceIdFromPublicKey, isDeviceId, sha256 } from './ed25519';

/** A node's signing identity. */
export interface NodeIdentity {
  /** DeviceId (32 hex). */
  readonly nodeId: string;
  readonly publicKey: Uint8Array;
  /** Signs with the node's private key (which never leaves the provider). */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * The identity behind key `keyId` of `provider` (an Ed25519 key).
 * @throws PeatError `MECHANISM_UNSUPPORTED` for another algorithm or a key without a public part; provider errors pass through.
 */
export async function identityFromKeyProvider(provider: KeyProvider, keyId: string): Promise<NodeIdentity> {
  const info = await provider.getKey(keyId);
  if (info.algorithm !== 'ed25519' || !info.publicKey || info.publicKey.length !== 32) {
    throw new PeatError('MECHANISM_UNSUPPORTED', `key ${keyId} is ${info.algorithm}; Peat identities are Ed25519`);
  }
  const publicKey = new Uint8Array(info.publicKey);
  return { nodeId: deviceIdFromPublicKey(publicKey), publicKey, sign: (data) => provider.sign(keyId, data) };
}

/**
 * Actor id for this process start: DeviceId ‖ 4 random bytes, so sequence numbers are never reused after a
 * restart. A node id that is not a DeviceId (a simulation without keys) is replaced by the first 16 bytes of its SHA-256.
 */
export function actorIdFor(nodeId: string, random: RandomSource = cryptoRandom): string {
  const prefix = isDeviceId(nodeId) ? nodeId : toHex(sha256(new TextEncoder().encode(nodeId)).subarray(0, 16));
  return prefix + toHex(random.bytes(4));
}

/** The DeviceId an actor id belongs to (its first 16 bytes). */
export function nodeIdOfActor(actor: string): string {
  return actor.slice(0, 32);
}
