// SPDX-License-Identifier: Apache-2.0
// Revocation lists: signed by a trust authority, distributed over any Transport, applied by every node.
import { eventTime, nodeSource, systemClock, uuidv4, type Clock, type Subscription, type Transport } from '@ecps/core';
import { RevocationList, SignedEnvelope } from '@ecps/proto/ext/v1';
import { TrustError } from './errors';
import { signedInput, type IdentitySigner } from './identity';
import type { KeyDirectory } from './key-directory';

/** Topic and CloudEvents type of revocation lists. */
export const REVOCATION_TOPIC = 'ecps/trust/revocations';
export const REVOCATION_EVENT_TYPE = 'ecps.ext.trust.revocation';

/** Signs and publishes a revocation list (QoS 1). Lists are cumulative: each carries every revoked key. */
export async function publishRevocationList(
  transport: Transport,
  authority: IdentitySigner,
  list: { sequence: bigint; revokedKeyIds: readonly string[] },
  clock: Clock = systemClock,
): Promise<void> {
  const body = RevocationList.encode({
    issuer: authority.identity.id,
    sequence: list.sequence,
    issuedNs: clock.nowNs(),
    revokedKeyIds: [...list.revokedKeyIds],
  }).finish();
  const data = SignedEnvelope.encode(await authority.envelope(body)).finish();
  await transport.publish(
    REVOCATION_TOPIC,
    { id: uuidv4(), source: nodeSource(authority.identity.id), type: REVOCATION_EVENT_TYPE, time: eventTime(clock.now()), data },
    { qos: 1 },
  );
}

/**
 * Verifies a received revocation list against the trusted authorities and applies it to `keys`.
 * Returns the list, or undefined when it is not newer than `lastSequence`.
 * @throws TrustError `PERMISSION_DENIED` when the signer is not an authority, plus the errors of
 *   {@link KeyDirectory.verify} and `DECODE_ERROR`.
 */
export function applyRevocationList(data: Uint8Array, keys: KeyDirectory, authorities: ReadonlySet<string>, lastSequence: bigint): RevocationList | undefined {
  let env: SignedEnvelope;
  let list: RevocationList;
  try {
    env = SignedEnvelope.decode(data);
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', 'malformed revocation list', { cause });
  }
  const signer = keys.verify(env.keyId, signedInput(env.body), env.signature, env.alg);
  if (!authorities.has(signer.principalId)) throw new TrustError('PERMISSION_DENIED', `${signer.principalId} is not a revocation authority`);
  try {
    list = RevocationList.decode(env.body);
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', 'malformed revocation list', { cause });
  }
  if (list.issuer !== signer.principalId) throw new TrustError('SIGNATURE_INVALID', `list of ${list.issuer} signed by ${signer.principalId}`);
  if (list.sequence <= lastSequence) return undefined;
  for (const keyId of list.revokedKeyIds) keys.revoke(keyId);
  return list;
}

/**
 * Applies every valid revocation list published on `transport` (use the bare transport or a secure one; the list is
 * signed either way). Invalid lists go to `onError` and change nothing.
 */
export async function subscribeRevocations(
  transport: Transport,
  keys: KeyDirectory,
  options: { authorities: readonly string[]; onApplied?: (list: RevocationList) => void; onError?: (error: unknown) => void },
): Promise<Subscription> {
  const authorities = new Set(options.authorities);
  let last = -1n;
  return transport.subscribe(
    REVOCATION_TOPIC,
    (event) => {
      if (event.type !== REVOCATION_EVENT_TYPE) return;
      try {
        const list = applyRevocationList(event.data, keys, authorities, last);
        if (list) {
          last = list.sequence;
          options.onApplied?.(list);
        }
      } catch (error) {
        options.onError?.(error);
      }
    },
    { qos: 1 },
  );
}
