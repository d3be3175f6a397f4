// SPDX-License-Identifier: Apache-2.0
// TPM2_MakeCredential done by the verifier in TypeScript (TPM 2.0 Library, Part 1, "Credential Protection"): a
// secret encrypted to an endorsement key for one named object, which only a TPM holding both can recover with
// TPM2_ActivateCredential. This is how a verifier learns that an attestation key lives in the TPM of a known EK.
import { createCipheriv, createECDH, createHash, createHmac } from 'node:crypto';
import { cryptoRandom, type RandomSource } from '@ecps/core';
import { TrustError } from '@ecps/trust';
import { HASHES, TPM_ALG, TPM_ECC_NIST_P256 } from './constants';
import { TpmWriter } from './marshal';
import { parsePublic } from './public-area';

function u32(n: number): Uint8Array {
  return new TpmWriter().u32(n).bytes();
}

const label = (text: string) => new TextEncoder().encode(`${text}\0`);

/** KDFa (SP 800-108 counter mode with HMAC), as the TPM defines it. */
export function kdfa(hash: string, key: Uint8Array, use: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const out: Buffer[] = [];
  let produced = 0;
  for (let counter = 1; produced < bits; counter++) {
    const block = createHmac(hash, key).update(u32(counter)).update(label(use)).update(contextU).update(contextV).update(u32(bits)).digest();
    out.push(block);
    produced += block.length * 8;
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bits / 8));
}

/** KDFe (SP 800-56A concatenation KDF), as the TPM defines it for ECDH-derived seeds. */
export function kdfe(hash: string, z: Uint8Array, use: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Uint8Array {
  const out: Buffer[] = [];
  let produced = 0;
  for (let counter = 1; produced < bits; counter++) {
    const block = createHash(hash).update(u32(counter)).update(z).update(label(use)).update(partyU).update(partyV).digest();
    out.push(block);
    produced += block.length * 8;
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bits / 8));
}

function pad32(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 32) return bytes;
  const out = new Uint8Array(32);
  out.set(bytes.subarray(Math.max(0, bytes.length - 32)), 32 - Math.min(32, bytes.length));
  return out;
}

/** What TPM2_ActivateCredential takes: the TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET bodies. */
export interface Credential {
  readonly credentialBlob: Uint8Array;
  readonly encryptedSecret: Uint8Array;
}

/**
 * Encrypts `secret` (at most the EK's name-digest size) to the endorsement key `ekPublicArea` (a TPMT_PUBLIC of an
 * ECC P-256 storage key with AES-CFB, such as the TCG default EK) for the object named `objectName`.
 * @throws TrustError `MECHANISM_UNSUPPORTED` for another EK type, `INVALID_ARGUMENT` for an oversized secret.
 */
export function makeCredential(ekPublicArea: Uint8Array, objectName: Uint8Array, secret: Uint8Array, random: RandomSource = cryptoRandom): Credential {
  const ek = parsePublic(ekPublicArea);
  const nameHash = HASHES[ek.nameAlg];
  if (ek.type !== 'ecc' || ek.curve !== TPM_ECC_NIST_P256 || !nameHash) throw new TrustError('MECHANISM_UNSUPPORTED', 'only ECC P-256 endorsement keys are supported');
  if (ek.symmetric?.alg !== TPM_ALG.AES || ek.symmetric.mode !== TPM_ALG.CFB) throw new TrustError('MECHANISM_UNSUPPORTED', 'the endorsement key must use AES-CFB');
  if (secret.length === 0 || secret.length > nameHash.size) throw new TrustError('INVALID_ARGUMENT', `credential secrets are 1..${nameHash.size} bytes`);

  // Seed: ECDH between a fresh ephemeral key and the EK, through KDFe with label IDENTITY.
  const ephemeral = createECDH('prime256v1');
  ephemeral.setPrivateKey(Buffer.from(p256Scalar(random)));
  const ekPoint = Buffer.concat([Buffer.of(4), pad32(ek.x), pad32(ek.y)]);
  let z: Buffer;
  try {
    z = ephemeral.computeSecret(ekPoint);
  } catch (cause) {
    throw new TrustError('INVALID_ARGUMENT', 'the endorsement key is not a valid P-256 point', { cause });
  }
  const point = ephemeral.getPublicKey();
  const ex = point.subarray(1, 33);
  const ey = point.subarray(33, 65);
  const seed = kdfe(nameHash.name, z, 'IDENTITY', ex, pad32(ek.x), nameHash.size * 8);

  // The credential (a TPM2B_DIGEST), encrypted with a key bound to the object's name, then an HMAC over both.
  const symKey = kdfa(nameHash.name, seed, 'STORAGE', objectName, new Uint8Array(0), ek.symmetric.detail ?? 128);
  const cipher = createCipheriv(`aes-${symKey.length * 8}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(new TpmWriter().sized(secret).bytes()), cipher.final()]);
  const hmacKey = kdfa(nameHash.name, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), nameHash.size * 8);
  const outerHmac = createHmac(nameHash.name, hmacKey).update(encIdentity).update(objectName).digest();
  return {
    credentialBlob: new TpmWriter().sized(outerHmac).raw(encIdentity).bytes(),
    encryptedSecret: new TpmWriter().sized(ex).sized(ey).bytes(),
  };
}

// A P-256 private scalar in [1, n-1] from the random source (rejection sampling; the loop almost never repeats).
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
function p256Scalar(random: RandomSource): Uint8Array {
  for (;;) {
    const bytes = random.bytes(32);
    const k = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
    if (k > 0n && k < P256_ORDER) return bytes;
  }
}
