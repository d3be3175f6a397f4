// SPDX-License-Identifier: Apache-2.0
// Identity forwarding: a signed chain that lets a node act for another principal (e.g. a gateway forwarding an
// operator's command), optionally narrowed to some permissions and always time-bounded.
import { systemClock, type Clock } from '@ecps/core';
import { Delegation } from '@ecps/proto/ext/v1';
import { TrustError } from './errors';
import type { IdentitySigner } from './identity';
import type { KeyDirectory } from './key-directory';
import { concat } from './key-encoding';
import { permissionCandidates } from './rbac';

const LABEL = new TextEncoder().encode('ecps-delegation-v1');

function delegationInput(d: Delegation): Uint8Array {
  return concat(LABEL, Delegation.encode({ ...d, signature: new Uint8Array(0) }).finish());
}

/** `signer` (the delegator) lets `delegate` act for it until `notAfterMs`, for `permissions` (empty = all). */
export async function createDelegation(
  signer: IdentitySigner,
  delegate: string,
  options: { notAfterMs: number; permissions?: readonly string[] },
): Promise<Delegation> {
  const d: Delegation = {
    delegator: signer.identity.id,
    delegate,
    permissions: [...(options.permissions ?? [])],
    notAfterNs: BigInt(Math.floor(options.notAfterMs)) * 1_000_000n,
    keyId: signer.keyId,
    alg: await signer.algorithm(),
    signature: new Uint8Array(0),
  };
  d.signature = await signer.sign(delegationInput(d));
  return d;
}

/**
 * Checks that `chain` lets `sender` act for `principal`: links connect principal → … → sender, each is signed by a
 * key of its delegator, unexpired and unrevoked. Returns the permission filter every link imposes.
 * @throws TrustError `UNAUTHENTICATED` for a broken or expired chain, plus the errors of {@link KeyDirectory.verify}.
 */
export function verifyDelegationChain(
  chain: readonly Delegation[],
  principal: string,
  sender: string,
  keys: KeyDirectory,
  clock: Clock = systemClock,
): (action: string, resource: string) => boolean {
  if (chain.length === 0) throw new TrustError('UNAUTHENTICATED', `${sender} sent on behalf of ${principal} without a delegation`);
  const nowNs = BigInt(Math.floor(clock.now())) * 1_000_000n;
  let expected = principal;
  for (const link of chain) {
    if (link.delegator !== expected) throw new TrustError('UNAUTHENTICATED', `delegation chain broken at ${link.delegator}`);
    if (link.notAfterNs <= nowNs) throw new TrustError('UNAUTHENTICATED', `delegation from ${link.delegator} expired`);
    const key = keys.verify(link.keyId, delegationInput(link), link.signature, link.alg);
    if (key.principalId !== link.delegator) throw new TrustError('SIGNATURE_INVALID', `delegation signed by ${key.principalId}, not ${link.delegator}`);
    expected = link.delegate;
  }
  if (expected !== sender) throw new TrustError('UNAUTHENTICATED', `delegation chain ends at ${expected}, not ${sender}`);
  const filters = chain.filter((l) => l.permissions.length > 0).map((l) => new Set(l.permissions));
  return (action, resource) => {
    const candidates = permissionCandidates(action, resource);
    return filters.every((allowed) => candidates.some((c) => allowed.has(c)));
  };
}
