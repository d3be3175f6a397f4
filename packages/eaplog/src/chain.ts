// SPDX-License-Identifier: Apache-2.0
// The Ed25519 hash chain and checkpoint bodies of spec §6.4.
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { concatBytes } from '@ecps/core';
import { CHAIN_DOMAIN, CHECKPOINT_BODY_BYTES, CHECKPOINT_DOMAIN, RECORD_CHECKPOINT, u64le } from './format';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};

/** Start value: SHA-256("ecps-eaplog-chain-v1" ‖ header json bytes). */
export function chainStart(headerJson: Uint8Array): Uint8Array {
  return sha256(ascii(CHAIN_DOMAIN), headerJson);
}

/** Chains record `index` with stored body `body`: SHA-256(c ‖ u64le(i) ‖ SHA-256(b)). */
export function chainNext(chain: Uint8Array, index: number, body: Uint8Array): Uint8Array {
  return sha256(chain, u64le(index), sha256(body));
}

/** The bytes a checkpoint signature covers. */
export function checkpointSigningInput(index: number, dataCount: number, chain: Uint8Array, final: boolean): Uint8Array {
  return concatBytes([ascii(CHECKPOINT_DOMAIN), u64le(index), u64le(dataCount), chain, Uint8Array.of(final ? 1 : 0)]);
}

/** A decoded checkpoint body. */
export interface Checkpoint {
  dataCount: number;
  chain: Uint8Array;
  final: boolean;
  signature: Uint8Array;
}

export function encodeCheckpointBody(cp: Checkpoint): Uint8Array {
  return concatBytes([Uint8Array.of(RECORD_CHECKPOINT), u64le(cp.dataCount), cp.chain, Uint8Array.of(cp.final ? 1 : 0), cp.signature]);
}

/** Decodes a 106-byte checkpoint body, or undefined when its size or final flag is wrong. */
export function decodeCheckpointBody(body: Uint8Array): Checkpoint | undefined {
  if (body.length !== CHECKPOINT_BODY_BYTES || body[0] !== RECORD_CHECKPOINT) return undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const finalByte = body[41];
  if (finalByte !== 0 && finalByte !== 1) return undefined;
  return {
    dataCount: Number(view.getBigUint64(1, true)),
    chain: body.slice(9, 41),
    final: finalByte === 1,
    signature: body.slice(42, 106),
  };
}

const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** Verifies an RFC 8032 Ed25519 signature with a raw 32-byte public key. Never throws on bad input. */
export function verifyEd25519(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(concatBytes([SPKI_ED25519_PREFIX, publicKey])), format: 'der', type: 'spki' });
    return cryptoVerify(null, data, key, signature);
  } catch {
    return false;
  }
}
