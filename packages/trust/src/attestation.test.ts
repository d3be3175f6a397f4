// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { ManualClock } from '@ecps/core';
import { attestationDeviceId, attestationSigningInput, createAttestation, isHardwareSecurityProvider, verifyAttestation } from './attestation';
import { publicKeyObject } from './key-encoding';
import { SoftwareKeyProvider } from './software-key-provider';

describe('attestation reports (spec §10)', () => {
  it('signs the JCS form and verifies every check', async () => {
    const clock = new ManualClock(1_750_000_000_500);
    const provider = new SoftwareKeyProvider();
    const info = await provider.generateKey('dev', 'ed25519');
    const key = { algorithm: info.algorithm, publicKey: info.publicKey! };
    const pem = publicKeyObject('ed25519', info.publicKey!).export({ format: 'pem', type: 'spki' }).toString();
    expect(attestationDeviceId(key)).toBe(createHash('sha256').update(pem).digest('hex').slice(0, 16));
    const nonce = new Uint8Array(randomBytes(32));
    const evidence = await createAttestation(provider, 'dev', { type: 'runtime_integrity', nonce, measurements: { fw: 'ab', boot: 'cd' }, clock });
    expect(new TextDecoder().decode(attestationSigningInput(evidence))).toBe(
      `{"attestation_type":"runtime_integrity","device_id":"${evidence.deviceId}","measurements":{"boot":"cd","fw":"ab"},"nonce":"${Buffer.from(nonce).toString('hex')}","timestamp":1750000000.5}`,
    );
    expect(verifyAttestation(evidence, { key, expectedNonce: nonce, measurements: { fw: 'ab' }, clock })).toEqual({ verified: true });

    const reason = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { details?: { reason?: string } }).details?.reason;
      }
      return undefined;
    };
    expect(reason(() => verifyAttestation(evidence, { key, expectedNonce: new Uint8Array(32), clock }))).toBe('nonce');
    expect(reason(() => verifyAttestation({ ...evidence, measurements: { fw: 'ff', boot: 'cd' } }, { key, expectedNonce: nonce, clock }))).toBe('signature');
    expect(reason(() => verifyAttestation(evidence, { key, expectedNonce: nonce, measurements: { fw: 'zz' }, clock }))).toBe('measurements');
    const other = await provider.generateKey('other', 'ed25519');
    expect(reason(() => verifyAttestation(evidence, { key: { algorithm: 'ed25519', publicKey: other.publicKey! }, expectedNonce: nonce, clock }))).toBe('device-id');
    clock.advance(300_001);
    expect(reason(() => verifyAttestation(evidence, { key, expectedNonce: nonce, clock }))).toBe('stale');
    expect(() => verifyAttestation(evidence, { key, expectedNonce: new Uint8Array(16), clock })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('legacy mode checks only freshness and measurements and says unverified', async () => {
    const clock = new ManualClock(1_750_000_000_000);
    const provider = new SoftwareKeyProvider();
    const info = await provider.generateKey('dev', 'ed25519');
    const evidence = await createAttestation(provider, 'dev', { type: 'tpm_quote', nonce: new Uint8Array(32), measurements: { pcr0: '00' }, clock });
    const forged = { ...evidence, signature: new Uint8Array(64) };
    expect(verifyAttestation(forged, { key: { algorithm: 'ed25519', publicKey: info.publicKey! }, expectedNonce: new Uint8Array(32).fill(1), clock, legacy: true })).toEqual({
      verified: false,
    });
    expect(isHardwareSecurityProvider(provider)).toBe(false);
  });
});
