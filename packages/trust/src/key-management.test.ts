// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { ManualClock, eventTime, uuidv4 } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { sleep, waitFor } from '@ecps/testkit';
import { RevocationList, SignedEnvelope } from '@ecps/proto/ext/v1';
import { createDelegation, verifyDelegationChain } from './delegation';
import { IdentitySigner } from './identity';
import { KeyDirectory } from './key-directory';
import { REVOCATION_EVENT_TYPE, REVOCATION_TOPIC, applyRevocationList, publishRevocationList, subscribeRevocations } from './revocation';
import { SoftwareKeyProvider } from './software-key-provider';

async function signerFor(id: string, keyId = `${id}-k`, provider = new SoftwareKeyProvider()) {
  await provider.generateKey(keyId, 'ed25519');
  return new IdentitySigner({ id, keyId, provider });
}

const data = new TextEncoder().encode('x');

describe('key management', () => {
  it('rotates a principal key: the old one verifies during the grace period, then KEY_REVOKED', async () => {
    const clock = new ManualClock(1_000_000);
    const dir = new KeyDirectory({ clock });
    const provider = new SoftwareKeyProvider();
    const v1 = await signerFor('arm', 'arm-v1', provider);
    dir.add(await v1.trustedKey());
    const v2 = await signerFor('arm', 'arm-v2', provider);
    dir.rotate(await v2.trustedKey(), 60_000);
    expect(dir.verify('arm-v1', data, await v1.sign(data)).principalId).toBe('arm');
    clock.advance(60_000);
    expect(() => dir.verify('arm-v1', data, new Uint8Array(64))).toThrow(expect.objectContaining({ code: 'KEY_REVOKED' }));
    expect(dir.verify('arm-v2', data, await v2.sign(data)).keyId).toBe('arm-v2');
    dir.revoke('arm-v2');
    expect(() => dir.verify('arm-v2', data, new Uint8Array(64))).toThrow(expect.objectContaining({ code: 'KEY_REVOKED' }));
  });

  it('checks delegation chains: order, expiry, signer, end', async () => {
    const clock = new ManualClock(1_000_000);
    const op = await signerFor('operator');
    const gw = await signerFor('gateway');
    const dir = new KeyDirectory({ keys: [await op.trustedKey(), await gw.trustedKey()] });
    const d1 = await createDelegation(op, 'gateway', { notAfterMs: clock.now() + 1000 });
    const d2 = await createDelegation(gw, 'relay', { notAfterMs: clock.now() + 1000, permissions: ['move:robot'] });
    const allowed = verifyDelegationChain([d1, d2], 'operator', 'relay', dir, clock);
    expect(allowed('move', 'robot')).toBe(true);
    expect(allowed('update', 'firmware')).toBe(false);
    expect(() => verifyDelegationChain([d2, d1], 'operator', 'relay', dir, clock)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(() => verifyDelegationChain([d1], 'operator', 'relay', dir, clock)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(() => verifyDelegationChain([{ ...d1, delegate: 'relay' }], 'operator', 'relay', dir, clock)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
    // signed by a real key, but not one of the delegator's
    const forged = await createDelegation(gw, 'relay', { notAfterMs: clock.now() + 1000 });
    expect(() => verifyDelegationChain([{ ...forged, delegator: 'operator' }], 'operator', 'relay', dir, clock)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );
    clock.advance(1000);
    expect(() => verifyDelegationChain([d1, d2], 'operator', 'relay', dir, clock)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('applies only newer revocation lists signed by an authority', async () => {
    const bus = new MemoryBus();
    const t = memoryTransport({ nodeId: 'n', bus });
    const ca = await signerFor('ca');
    const rogue = await signerFor('rogue');
    const victim = await signerFor('victim');
    const dir = new KeyDirectory({ keys: [await ca.trustedKey(), await rogue.trustedKey(), await victim.trustedKey()] });
    const errors: unknown[] = [];
    const applied: bigint[] = [];
    await subscribeRevocations(t, dir, { authorities: ['ca'], onApplied: (l) => applied.push(l.sequence), onError: (e) => errors.push(e) });
    await publishRevocationList(t, rogue, { sequence: 9n, revokedKeyIds: ['ca-k'] });
    await waitFor(() => errors.length === 1, 'rogue list refused');
    expect(errors[0]).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(dir.isRevoked('ca-k')).toBe(false);
    await publishRevocationList(t, ca, { sequence: 2n, revokedKeyIds: ['victim-k'] });
    await publishRevocationList(t, ca, { sequence: 1n, revokedKeyIds: ['rogue-k'] });
    const body = RevocationList.encode({ issuer: 'ca', sequence: 3n, issuedNs: 0n, revokedKeyIds: ['rogue-k'] }).finish();
    const tampered = SignedEnvelope.encode({ ...(await ca.envelope(body)), body: RevocationList.encode({ issuer: 'ca', sequence: 3n, issuedNs: 0n, revokedKeyIds: ['x'] }).finish() }).finish();
    await t.publish(REVOCATION_TOPIC, { id: uuidv4(), source: 'urn:ecps:ca', type: REVOCATION_EVENT_TYPE, time: eventTime(Date.now()), data: tampered });
    await waitFor(() => errors.length === 2, 'tampered list refused');
    await sleep(20);
    expect(applied).toEqual([2n]);
    expect(errors[1]).toMatchObject({ code: 'SIGNATURE_INVALID' });
    expect(dir.isRevoked('victim-k')).toBe(true);
    expect(dir.isRevoked('rogue-k')).toBe(false);
    expect(() => applyRevocationList(new Uint8Array([0xff, 0xff]), dir, new Set(['ca']), 0n)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    await t.close();
  });
});
