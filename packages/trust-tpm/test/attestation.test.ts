// SPDX-License-Identifier: Apache-2.0
// Quotes made by a real TPM (swtpm) verified in TypeScript, and each attack refused for its own reason.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { AttestationEvidence } from '@ecps/core';
import { verifyAttestation } from '@ecps/trust';
import { makeCredential } from '../src/credential';
import { bootPolicy, measurementDigest, type Measurement } from '../src/measured-boot';
import { TPM_ALG } from '../src/constants';
import { Tpm, passwordAuth } from '../src/tpm';
import type { TpmKeyProvider } from '../src/tpm-key-provider';
import { tcpTransport } from '../src/transport';
import { QuoteVerifier, enrollAttestationKey, type EnrolledAttestationKey, type QuoteRejection } from '../src/verifier';
import { describeTpm, openProvider, startSwtpm, type SwtpmHandle } from './swtpm-fixture';

// A boot chain as a PC-client platform measures it: firmware into PCR 0, bootloader into 4, kernel image and its
// configuration into 8 and 9.
const stages = { firmware: 'firmware 2.1', bootloader: 'bootloader 1.4', image: 'robot image 7.3.0', config: 'gripper_force=40' };
const pcrOf = { firmware: 0, bootloader: 4, image: 8, config: 9 } as const;
const policy = bootPolicy(
  (Object.keys(stages) as (keyof typeof stages)[]).map((name) => ({ name, pcr: pcrOf[name], digest: measurementDigest(stages[name]) })),
);

async function boot(tpm: TpmKeyProvider, overrides: Partial<typeof stages> = {}): Promise<void> {
  for (const name of Object.keys(stages) as (keyof typeof stages)[]) await tpm.measure(name, pcrOf[name], overrides[name] ?? stages[name]);
}

describeTpm('TPM quotes verified in TypeScript', () => {
  let swtpm: SwtpmHandle;
  let tpm: TpmKeyProvider;
  let ak: EnrolledAttestationKey;
  const verifier = new QuoteVerifier();

  const reason = (report: AttestationEvidence, key = ak): QuoteRejection | 'accepted' => {
    try {
      verifier.verify(report, { ak: key, policy });
      return 'accepted';
    } catch (error) {
      expect(error).toMatchObject({ name: 'TrustError', code: 'ATTESTATION_FAILED' });
      return (error as { details: { reason: QuoteRejection } }).details.reason;
    }
  };

  /** Power-cycles the TPM (PCRs back to zero) and opens a provider with `measurements` as its log. */
  async function reboot(measurements: readonly Measurement[] = []): Promise<void> {
    await tpm.close();
    await swtpm.restart();
    tpm = await openProvider(swtpm, { measurements });
  }

  beforeAll(async () => {
    swtpm = await startSwtpm();
    tpm = await openProvider(swtpm);
    const info = await tpm.attestationKey('ak');
    ak = enrollAttestationKey(info.publicArea);
    expect(Buffer.from(ak.qualifiedName).equals(Buffer.from(info.qualifiedName))).toBe(true); // as the TPM computes it
    expect(ak.deviceId).toBe(info.deviceId);
    await boot(tpm);
  });
  afterAll(async () => {
    await tpm?.close();
    await swtpm?.stop();
  });

  it('verifies a quote of the measured boot chain, and the report passes the spec checks of @ecps/trust too', async () => {
    const nonce = verifier.challenge();
    const report = await tpm.attest('ak', nonce);
    expect(report).toMatchObject({ type: 'tpm_quote', deviceId: ak.deviceId });
    expect(verifyAttestation(report, { key: { algorithm: 'ecdsa-p256', publicKey: ak.publicKey }, expectedNonce: nonce })).toEqual({ verified: true });
    const verified = verifier.verify(report, { ak, policy });
    expect(verified.log.map((m) => m.name)).toEqual(['firmware', 'bootloader', 'image', 'config']);
    expect(Object.keys(verified.pcrs)).toEqual(['0', '4', '8', '9']);
    expect(verified.pcrs[0]).toBe(Buffer.from((await tpm.readPcrs([0])).get(0)!).toString('hex'));
  });

  it('refuses a wrong nonce, a replayed quote, another AK and tampered signatures, each for its own reason', async () => {
    expect(reason(await tpm.attest('ak', new Uint8Array(32).fill(1)))).toBe('nonce');

    const replayed = await tpm.attest('ak', verifier.challenge());
    expect(reason(replayed)).toBe('accepted');
    expect(reason(replayed)).toBe('replay');

    expect(reason(await tpm.attest('another-ak', verifier.challenge()))).toBe('signer');
    const other = enrollAttestationKey((await tpm.attestationKey('another-ak')).publicArea);
    expect(reason(await tpm.attest('ak', verifier.challenge()), other)).toBe('signer');

    const quote = await tpm.attest('ak', verifier.challenge());
    const sig = quote.measurements['tpm2:signature']!;
    const flipped = sig.slice(0, 30) + (sig[30] === 'a' ? 'b' : 'a') + sig.slice(31);
    expect(reason({ ...quote, measurements: { ...quote.measurements, 'tpm2:signature': flipped } })).toBe('quote-signature');

    const report = await tpm.attest('ak', verifier.challenge());
    expect(reason({ ...report, signature: report.signature.map((b, i) => (i === 10 ? b ^ 0x40 : b)) })).toBe('signature');
  });

  it('refuses a changed PCR: an extend the measurement log does not explain', async () => {
    await reboot();
    await boot(tpm);
    const log = tpm.measurements;
    await tpm.close();
    const intruder = new Tpm(tcpTransport({ port: swtpm.port })); // another program, extending without logging
    await intruder.pcrExtend(8, passwordAuth(), TPM_ALG.SHA256, new Uint8Array(32).fill(0xee));
    await intruder.transport.close();
    tpm = await openProvider(swtpm, { measurements: log });
    expect(reason(await tpm.attest('ak', verifier.challenge()))).toBe('event-log');
  });

  it('refuses a device that booted another image, naming the image', async () => {
    await reboot();
    await boot(tpm, { image: 'robot image 7.3.0-patched' });
    const report = await tpm.attest('ak', verifier.challenge());
    expect(() => verifier.verify(report, { ak, policy })).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ reason: 'measurement', measurement: 'image', index: 2 }) }),
    );
  });

  it('refuses a device whose log lies about what it booted', async () => {
    await reboot();
    await boot(tpm, { bootloader: 'bootloader 1.4 with a backdoor' });
    await tpm.close();
    tpm = await openProvider(swtpm, { measurements: policy.chain }); // claims the expected chain; the PCRs say otherwise
    expect(reason(await tpm.attest('ak', verifier.challenge()))).toBe('event-log');
  });

  it('proves the AK is in the TPM of the endorsement key (credential activation)', async () => {
    const ek = await tpm.endorsementKey();
    const info = await tpm.attestationKey('ak');
    const secret = new Uint8Array(32).fill(0x5c);
    expect(Buffer.from(await tpm.activateCredential('ak', makeCredential(ek.publicArea, info.name, secret)))).toEqual(Buffer.from(secret));
    // a credential for another key name is refused by the TPM (the HMAC binds the name)
    const otherName = (await tpm.attestationKey('another-ak')).name;
    await expect(tpm.activateCredential('ak', makeCredential(ek.publicArea, otherName, secret))).rejects.toMatchObject({ name: 'TpmError', code: 'DECRYPTION_FAILED' });
    // and a credential made for another TPM's EK cannot be opened here
    const stranger = await startSwtpm();
    const strangerTpm = await openProvider(stranger);
    try {
      const strangerEk = await strangerTpm.endorsementKey();
      expect(Buffer.from(strangerEk.publicArea).equals(Buffer.from(ek.publicArea))).toBe(false);
      await expect(tpm.activateCredential('ak', makeCredential(strangerEk.publicArea, info.name, secret))).rejects.toMatchObject({ name: 'TpmError', code: 'DECRYPTION_FAILED' });
    } finally {
      await strangerTpm.close();
      await stranger.stop();
    }
  });
});
