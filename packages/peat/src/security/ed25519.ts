// SPDX-License-Identifier: Apache-2.0
// Ed25519 verification against raw 32-byte public keys (signing goes through a KeyProvider), DeviceIds, and the
// key derivations the mesh uses.
import { createHash, createPublicKey, hkdfSync, verify, type KeyObject } from 'node:crypto';
import { toHex } from '@ecps/core';
import { PeatError } from '../errors';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_LIMIT = 4096;

function keyObject(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey);
  let k = keyCache.get(id);
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value as string);
    keyCache.set(id, k);
  }
  return k;
}

/** True when `signature` is a valid Ed25519 signature of `data` by `publicKey`; false for malformed input. */
export function verifyEd25519(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, data, keyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/**
 * DeviceId: the first 16 bytes of SHA-256 over the raw Ed25519 public key, as 32 lowercase hex characters.
 * @throws PeatError `INVALID_ARGUMENT` for a key that is not 32 bytes.
 */
export function deviceIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new PeatError('INVALID_ARGUMENT', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  return createHash('sha256').update(publicKey).digest().subarray(0, 16).toString('hex');
}

/** True for a well-formed DeviceId (32 lowercase hex characters). */
export function isDeviceId(id: string): boolean {
  return /^[0-9a-f]{32}$/.test(id);
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** HKDF-SHA256. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

/** What a mesh is created from: its id and formation secret, derived from one 256-bit seed (never log the seed). */
export interface MeshGenesis {
  /** 8 hex characters. */
  readonly meshId: string;
  readonly formationSecret: Uint8Array;
  /** 32-byte seed of the mesh authority's Ed25519 key (import it into a KeyProvider). */
  readonly authoritySeed: Uint8Array;
}

/** Derives the mesh id, formation secret and authority key seed from a 32-byte seed (HKDF labels `peat-mesh:*`). */
export function meshGenesis(seed: Uint8Array): MeshGenesis {
  if (seed.length !== 32) throw new PeatError('INVALID_ARGUMENT', 'a mesh seed is 32 bytes');
  const none = new Uint8Array(0);
  return {
    meshId: toHex(hkdf(seed, none, 'peat-mesh:mesh-id', 4)),
    formationSecret: hkdf(seed, none, 'peat-mesh:formation-secret', 32),
    authoritySeed: hkdf(seed, none, 'peat-mesh:authority-keypair', 32),
  };
}
