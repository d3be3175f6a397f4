// SPDX-License-Identifier: Apache-2.0
// This node's identity: a principal id and a signing key held by any KeyProvider (software, PKCS#11, TPM, KMS).
import type { KeyProvider } from '@ecps/core';
import { concat } from './key-encoding';
import type { TrustedKey } from './key-directory';
import { signatureAlgorithmOf, type SignatureAlgorithm } from './signatures';
import { TrustError } from './errors';
import type { SignedEnvelope } from '@ecps/proto/ext/v1';

export interface Identity {
  /** Principal id; also the node id in `urn:ecps:<id>` sources. */
  readonly id: string;
  /** Signing key in `provider`. */
  readonly keyId: string;
  readonly provider: KeyProvider;
}

const SIGNED_LABEL = new TextEncoder().encode('ecps-signed-v1');

/** What a SignedEnvelope signature covers: `"ecps-signed-v1" ‖ body`. */
export function signedInput(body: Uint8Array): Uint8Array {
  return concat(SIGNED_LABEL, body);
}

/** A signer bound to an identity; resolves its algorithm once. */
export class IdentitySigner {
  private alg: SignatureAlgorithm | undefined;

  constructor(readonly identity: Identity) {}

  get keyId(): string {
    return this.identity.keyId;
  }

  async algorithm(): Promise<SignatureAlgorithm> {
    this.alg ??= signatureAlgorithmOf((await this.identity.provider.getKey(this.identity.keyId)).algorithm);
    return this.alg;
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.identity.provider.sign(this.identity.keyId, data);
  }

  /** Signs `body` into a SignedEnvelope. */
  async envelope(body: Uint8Array): Promise<SignedEnvelope> {
    const alg = await this.algorithm();
    return { body, alg, keyId: this.identity.keyId, signature: await this.sign(signedInput(body)) };
  }

  /** The directory entry peers need to verify this identity. @throws TrustError `MECHANISM_UNSUPPORTED` without a public key. */
  async trustedKey(): Promise<TrustedKey> {
    const info = await this.identity.provider.getKey(this.identity.keyId);
    if (!info.publicKey) throw new TrustError('MECHANISM_UNSUPPORTED', `key ${info.id} has no public key`);
    return { keyId: info.id, principalId: this.identity.id, algorithm: info.algorithm, publicKey: info.publicKey };
  }
}
