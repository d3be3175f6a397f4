// SPDX-License-Identifier: Apache-2.0
// Signed CRDT changes (spec §8.4): every local change is signed by its author over
// "peat-change-v1" ‖ lp(doc_key) ‖ change_hash, and a receiver verifies every change of a message before applying
// any of it: a valid signature, a signer whose DeviceId is the change's actor prefix, a signer who is a member
// (when certificates are required) and who may write the document (RBAC). One failure rejects the whole message.
import { fromHex, toHex } from '@ecps/core';
import { concatBytes, encodeUtf8, lp } from '../bytes';
import { splitDocKey } from '../doc-key';
import { PeatError } from '../errors';
import type { ChangeSignature } from '../frame';
import type { ChangeInfo } from '../store/change-info';
import { deviceIdFromPublicKey, verifyEd25519 } from './ed25519';
import type { NodeIdentity } from './identity';
import type { WriteAuthorizer } from './rbac';

const CHANGE_CONTEXT = encodeUtf8('peat-change-v1');

/** The bytes a change signature covers. */
export function changeSigningInput(docKey: string, changeHash: Uint8Array): Uint8Array {
  return concatBytes([CHANGE_CONTEXT, lp(docKey), changeHash]);
}

/** Signs one change of `docKey` with the node's key. */
export async function signChange(identity: NodeIdentity, docKey: string, changeHashHex: string): Promise<ChangeSignature> {
  const hash = fromHex(changeHashHex);
  return { hash, signer: identity.publicKey, signature: await identity.sign(changeSigningInput(docKey, hash)) };
}

export interface ChangeVerifierOptions {
  /** RBAC on writes; absent = any member may write anything. */
  readonly authorizer?: WriteAuthorizer;
  /** Whether a signer (by DeviceId and key) is a member; absent = any key is accepted. Throw or return false to refuse. */
  readonly isMember?: (nodeId: string, publicKey: Uint8Array) => boolean;
}

/** Verifies the changes a message carries against the signatures that came with it (or are already stored). */
export class ChangeVerifier {
  constructor(private readonly options: ChangeVerifierOptions = {}) {}

  /**
   * `exempt` is the hash of the collection's genesis change, if it has one.
   * @throws PeatError `SIGNATURE_INVALID` (a change without a valid signature, or signed by a key that is not its
   * author's), `PERMISSION_DENIED` (RBAC or an unknown signer). Nothing is applied when it throws.
   */
  verify(docKey: string, changes: readonly ChangeInfo[], signatures: ReadonlyMap<string, ChangeSignature>, exempt?: string): void {
    const { collection, id } = splitDocKey(docKey);
    for (const change of changes) {
      // the collection's genesis change is the same bytes on every replica (see DocumentStore.genesis)
      if (change.hash === exempt) continue;
      const sig = signatures.get(change.hash);
      if (!sig) throw new PeatError('SIGNATURE_INVALID', `change ${change.hash.slice(0, 16)} of ${docKey} is not signed`, { details: { docKey, change: change.hash } });
      if (!verifyEd25519(sig.signer, changeSigningInput(docKey, sig.hash), sig.signature)) {
        throw new PeatError('SIGNATURE_INVALID', `signature of change ${change.hash.slice(0, 16)} of ${docKey} does not verify`, { details: { docKey, change: change.hash } });
      }
      const signer = deviceIdFromPublicKey(sig.signer);
      if (change.actor.slice(0, 32) !== signer) {
        throw new PeatError('SIGNATURE_INVALID', `change ${change.hash.slice(0, 16)} was made by actor ${change.actor} but signed by ${signer}`, {
          details: { docKey, change: change.hash, signer, actor: change.actor },
        });
      }
      if (this.options.isMember && !this.options.isMember(signer, sig.signer)) {
        throw new PeatError('PERMISSION_DENIED', `signer ${signer} of ${docKey} holds no valid membership certificate`, { details: { docKey, signer } });
      }
      this.options.authorizer?.authorize({ signer, collection, id });
    }
  }
}

/** Indexes signature entries by change hash (hex). */
export function signatureMap(entries: readonly ChangeSignature[]): Map<string, ChangeSignature> {
  const m = new Map<string, ChangeSignature>();
  for (const e of entries) m.set(toHex(e.hash), e);
  return m;
}
