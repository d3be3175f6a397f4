// SPDX-License-Identifier: Apache-2.0
// Against a fresh SoftHSM2 token created for this run by test/softhsm-global-setup.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPublicKey, verify } from 'node:crypto';
import { nodeSource } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { testEvent, waitFor } from '@ecps/testkit';
import { IdentitySigner, KeyDirectory, Rbac, SoftwareKeyProvider, secureTransport } from '@ecps/trust';
import { Pkcs11KeyProvider } from './pkcs11-key-provider';

/** The uncompressed point (65 bytes) of a P-256 SPKI. */
function pointOf(spki: Uint8Array): Uint8Array {
  return new Uint8Array(spki.subarray(spki.length - 65));
}

interface TokenInfo {
  modulePath: string;
  label: string;
  pin: string;
}
const shared = process.env['ECPS_TEST_SOFTHSM_TOKEN'];
if (!shared) console.warn('softhsm2 is not installed: PKCS#11 tests skipped (see tooling/scripts/apt-packages.txt)');
const describeHsm = shared ? describe : describe.skip;

describeHsm('Pkcs11KeyProvider on SoftHSM2', () => {
  let token: TokenInfo;
  let hsm: Pkcs11KeyProvider;

  beforeAll(async () => {
    token = JSON.parse(shared!) as TokenInfo;
    hsm = await Pkcs11KeyProvider.open({ library: token.modulePath, tokenLabel: token.label, pin: token.pin });
  });
  afterAll(async () => {
    await hsm?.close();
  });

  it('generates an ECDSA P-256 key whose signatures verify with node:crypto', async () => {
    const info = await hsm.generateKey('arm-1-signing', 'ecdsa-p256');
    expect(info).toMatchObject({ algorithm: 'ecdsa-p256', extractable: false });
    expect((await hsm.getKey('arm-1-signing')).publicKey).toEqual(info.publicKey);
    const data = new TextEncoder().encode('move arm to home');
    const sig = await hsm.sign('arm-1-signing', data);
    expect(sig.length).toBe(64);
    const pub = createPublicKey({ key: Buffer.from(info.publicKey!), format: 'der', type: 'spki' });
    expect(verify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    expect(verify('sha256', new TextEncoder().encode('other'), { key: pub, dsaEncoding: 'ieee-p1363' }, sig)).toBe(false);
    expect(await hsm.verify('arm-1-signing', data, sig)).toBe(true);
    await expect(hsm.generateKey('arm-1-signing', 'ecdsa-p256')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
  });

  it('encrypts with AES-256-GCM on the token and rejects tampering', async () => {
    await hsm.generateKey('log-key', 'aes-256-gcm');
    const aad = new TextEncoder().encode('hdr');
    const sealed = await hsm.encrypt('log-key', { plaintext: new TextEncoder().encode('action log'), aad });
    expect(sealed.ciphertext.length).toBe(10 + 16);
    expect(new TextDecoder().decode(await hsm.decrypt('log-key', { ...sealed, aad }))).toBe('action log');
    const bad = sealed.ciphertext.slice();
    bad[0] = bad[0]! ^ 1;
    await expect(hsm.decrypt('log-key', { nonce: sealed.nonce, ciphertext: bad, aad })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    const wrapped = await hsm.wrapKey('log-key', new Uint8Array(32).fill(3));
    expect(await hsm.unwrapKey('log-key', wrapped)).toEqual(new Uint8Array(32).fill(3));
  });

  it('generates single-purpose keys: a signing key cannot derive, a sealing key cannot sign', async () => {
    const signing = await hsm.generateKey('sign-only', 'ecdsa-p256');
    const sealing = await hsm.generateKey('derive-only', 'ecdsa-p256', { usage: 'derive' });
    const peer = (await hsm.generateKey('peer', 'ecdsa-p256', { usage: 'derive' })).publicKey!;
    const point = pointOf(peer);
    expect(signing.publicKey).toBeDefined();
    expect((await hsm.sign('sign-only', new Uint8Array(8))).length).toBe(64);
    expect((await hsm.deriveSharedSecret('derive-only', point)).length).toBe(32);
    // the token itself refuses: CKA_SIGN / CKA_DERIVE are false (CKR_KEY_FUNCTION_NOT_PERMITTED)
    await expect(hsm.deriveSharedSecret('sign-only', point)).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await expect(hsm.sign('derive-only', new Uint8Array(8))).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    expect(sealing.algorithm).toBe('ecdsa-p256');
  });

  it('keeps the event loop running while token calls are in progress', async () => {
    await hsm.generateKey('busy', 'ecdsa-p256');
    const calls = 40;
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    // sequential calls: a provider that blocks runs them all without ever returning to the event loop
    for (let i = 0; i < calls; i++) await hsm.sign('busy', new Uint8Array([i]));
    const during = ticks;
    running = false;
    expect(during).toBeGreaterThanOrEqual(calls / 2);
  });

  it('never takes a caller-chosen AES-GCM nonce and counts encryptions per key', async () => {
    await hsm.generateKey('gcm', 'aes-256-gcm');
    await expect(hsm.encrypt('gcm', { plaintext: new Uint8Array(4), nonce: new Uint8Array(12) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const limited = await Pkcs11KeyProvider.open({ library: token.modulePath, tokenLabel: token.label, pin: token.pin, maxEncryptionsPerKey: 2 });
    try {
      await limited.encrypt('gcm', { plaintext: new Uint8Array(4) });
      await limited.wrapKey('gcm', new Uint8Array(32));
      await expect(limited.encrypt('gcm', { plaintext: new Uint8Array(4) })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    } finally {
      await limited.close();
    }
  });

  it('reports typed errors', async () => {
    await hsm.generateKey('fleet-2', 'ecdsa-p256', { usage: 'derive' });
    await expect(hsm.generateKey('x', 'ed25519')).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await expect(hsm.sign('absent', new Uint8Array(1))).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await expect(hsm.deriveSharedSecret('fleet-2', Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : 7)))).rejects.toMatchObject({
      code: 'DECRYPTION_FAILED',
    });
    await expect(hsm.deriveSharedSecret('log-key', Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : 0)))).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await expect(hsm.encrypt('arm-1-signing', { plaintext: new Uint8Array(1) })).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await expect(Pkcs11KeyProvider.open({ library: token.modulePath, tokenLabel: 'no-such-token', pin: token.pin })).rejects.toMatchObject({ code: 'TOKEN_ABSENT' });
    await hsm.close(); // login state is per process: log out before trying a wrong PIN
    await expect(Pkcs11KeyProvider.open({ library: token.modulePath, tokenLabel: token.label, pin: '0000' })).rejects.toMatchObject({ code: 'PIN_INCORRECT' });
    await expect(hsm.sign('arm-1-signing', new Uint8Array(1))).rejects.toMatchObject({ code: 'CLOSED' });
    hsm = await Pkcs11KeyProvider.open({ library: token.modulePath, tokenLabel: token.label, pin: token.pin });
    expect(await hsm.hasKey('arm-1-signing')).toBe(true);
  });

  it('signs and seals every message of the secure transport with HSM-held keys, end to end', async () => {
    await hsm.generateKey('planner-signing', 'ecdsa-p256');
    // the fleet's sealing key lives in the HSM too: P-256 ECDH on the token (P256-HKDF-SHA256-A256GCM)
    const fleetKey = await hsm.generateKey('fleet-sealing', 'ecdsa-p256', { usage: 'derive' });
    const sealing = { recipient: { keyId: 'fleet-sealing', algorithm: 'ecdsa-p256' as const, publicKey: fleetKey.publicKey! }, provider: hsm };
    const bus = new MemoryBus();
    const keys = new KeyDirectory();
    const rbac = new Rbac({ principals: [{ id: 'planner', kind: 'service', roles: [], permissions: { 'publish:eap': true } }] });
    const plannerId = { id: 'planner', keyId: 'planner-signing', provider: hsm };
    const armKeys = new SoftwareKeyProvider();
    await armKeys.generateKey('arm-k', 'ed25519');
    const armId = { id: 'arm', keyId: 'arm-k', provider: armKeys };
    keys.add(await new IdentitySigner(plannerId).trustedKey());
    keys.add(await new IdentitySigner(armId).trustedKey());
    const options = { keys, level: 'authorized' as const, principals: rbac, sealing };
    const wire: string[] = [];
    const spy = memoryTransport({ nodeId: 'spy', bus });
    await spy.subscribe('eap', (e) => void wire.push(e.type));
    const planner = secureTransport(memoryTransport({ nodeId: 'planner', bus }), { ...options, identity: plannerId });
    const arm = secureTransport(memoryTransport({ nodeId: 'arm', bus }), { ...options, identity: armId });
    const got: string[] = [];
    await arm.subscribe('eap', (e) => void got.push(e.id));
    const sent = testEvent(nodeSource('planner'), 64, { type: 'ecps.eap.action' });
    await planner.publish('eap', sent);
    await waitFor(() => got.length === 1, 'HSM-signed delivery');
    expect(got).toEqual([sent.id]);
    expect(wire).toEqual(['ecps.ext.sealed']);
    await spy.close();
    await planner.close();
    await arm.close();
  });
});
