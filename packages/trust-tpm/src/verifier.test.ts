// SPDX-License-Identifier: Apache-2.0
// Every check of the quote verifier, against reports from a software stand-in for the AK (test/software-attester.ts)
// that can sign what a real TPM never would. Real TPM quotes are verified in test/attestation.test.ts.
import { describe, expect, it } from '@jest/globals';
import { ManualClock, type AttestationEvidence } from '@ecps/core';
import { verifyAttestation } from '@ecps/trust';
import { softwareAttester } from '../test/software-attester';
import { TPM_RH, TPMA_OBJECT } from './constants';
import { bootPolicy, measurementDigest, replayMeasurements, type Measurement } from './measured-boot';
import { attestationKeyTemplate, marshalPublic } from './public-area';
import { QuoteVerifier, enrollAttestationKey, verifyQuoteReport, type QuoteRejection } from './verifier';

const chain: Measurement[] = [
  { name: 'firmware', pcr: 0, digest: measurementDigest('firmware v1') },
  { name: 'bootloader', pcr: 4, digest: measurementDigest('bootloader v1') },
  { name: 'image', pcr: 8, digest: measurementDigest('image v1') },
  { name: 'config', pcr: 8, digest: measurementDigest('config v1') },
];
const policy = bootPolicy(chain);
const attester = softwareAttester();
const clock = new ManualClock(1_750_000_000_000);
const nonce = new Uint8Array(32).fill(5);

function report(log: readonly Measurement[] = chain, quote = {}, pcrs = replayMeasurements(log)): AttestationEvidence {
  return attester.report(nonce, { pcrs, log, timestampMs: clock.now(), quote });
}

function rejection(evidence: AttestationEvidence, options: { nonce?: Uint8Array } = {}): QuoteRejection | 'accepted' {
  try {
    verifyQuoteReport(evidence, { ak: attester.ak, nonce: options.nonce ?? nonce, policy, clock });
    return 'accepted';
  } catch (error) {
    expect(error).toMatchObject({ name: 'TrustError', code: 'ATTESTATION_FAILED' });
    return (error as { details: { reason: QuoteRejection } }).details.reason;
  }
}

const withMeasurement = (r: AttestationEvidence, key: string, value: string | undefined): AttestationEvidence => {
  const measurements = { ...r.measurements };
  if (value === undefined) delete measurements[key];
  else measurements[key] = value;
  return { ...r, measurements };
};

const flipHex = (hex: string, at: number) => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);

describe('verifyQuoteReport', () => {
  it('accepts a genuine report and returns the quoted PCRs and the log', () => {
    const verified = verifyQuoteReport(report(), { ak: attester.ak, nonce, policy, clock });
    expect(Object.keys(verified.pcrs)).toEqual(['0', '4', '8']);
    expect(verified.log.map((m) => m.name)).toEqual(['firmware', 'bootloader', 'image', 'config']);
    // and the spec's generic check accepts the same report with the AK as the device key
    expect(verifyAttestation(report(), { key: { algorithm: 'ecdsa-p256', publicKey: attester.ak.publicKey }, expectedNonce: nonce, clock })).toEqual({ verified: true });
  });

  it('names each failed check', () => {
    const other = softwareAttester(0x22);
    const genuine = report();
    const cases: [string, AttestationEvidence, QuoteRejection][] = [
      ['unknown measurement', withMeasurement(genuine, 'extra', '00'), 'malformed'],
      ['no quote', withMeasurement(genuine, 'tpm2:quote', undefined), 'malformed'],
      ['a gap in the log', withMeasurement(genuine, 'event:0001:4:bootloader', undefined), 'malformed'],
      ['truncated quote', withMeasurement(genuine, 'tpm2:quote', genuine.measurements['tpm2:quote']!.slice(0, 40)), 'malformed'],
      ['another AK', other.report(nonce, { pcrs: replayMeasurements(chain), log: chain, timestampMs: clock.now() }), 'signer'],
      ['another qualified signer', report(chain, { qualifiedSigner: other.ak.qualifiedName }), 'signer'],
      ['tampered quote signature', withMeasurement(genuine, 'tpm2:signature', flipHex(genuine.measurements['tpm2:signature']!, 20)), 'quote-signature'],
      ['no TPM_GENERATED_VALUE', report(chain, { magic: 0x7b226174 }), 'magic'],
      ['a certify, not a quote', report(chain, { type: 0x8017 }), 'type'],
      ['another nonce in extraData', report(chain, { extraData: new Uint8Array(32).fill(6) }), 'nonce'],
      ['a policy PCR not quoted', report(chain.slice(0, 2)), 'pcr-selection'],
      ['values for PCRs not quoted', report(chain, { selection: [0, 4] }), 'pcr-selection'],
      ['PCR values that are not the quoted ones', report(chain, { pcrDigest: new Uint8Array(32) }), 'pcr-digest'],
      ['tampered report signature', { ...genuine, signature: genuine.signature.map((b, i) => (i === 3 ? b ^ 1 : b)) }, 'signature'],
      ['a log that does not explain the PCRs', report(chain, {}, replayMeasurements(chain.slice(0, 3))), 'event-log'],
      ['another image', report([chain[0]!, chain[1]!, { ...chain[2]!, digest: measurementDigest('image v2') }, chain[3]!]), 'measurement'],
    ];
    for (const [what, evidence, reason] of cases) expect([what, rejection(evidence)]).toEqual([what, reason]);
    expect(rejection(genuine, { nonce: new Uint8Array(32).fill(9) })).toBe('nonce');
  });

  it('names the first mismatching measurement, with what was expected and found', () => {
    const log = [chain[0]!, { ...chain[1]!, digest: measurementDigest('evil bootloader') }, { ...chain[2]!, digest: measurementDigest('image v2') }, chain[3]!];
    expect(() => verifyQuoteReport(report(log), { ak: attester.ak, nonce, policy, clock })).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ reason: 'measurement', measurement: 'bootloader', index: 1, actual: measurementDigest('evil bootloader') }) }),
    );
    expect(() => verifyQuoteReport(report(chain.slice(0, 3), {}, replayMeasurements(chain.slice(0, 3))), { ak: attester.ak, nonce, policy, clock })).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ reason: 'measurement', measurement: 'config', index: 3 }) }),
    );
  });

  it('refuses a report older than 300 s', () => {
    const old = report();
    const later = new ManualClock(clock.now() + 301_000);
    expect(() => verifyQuoteReport(old, { ak: attester.ak, nonce, policy, clock: later })).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'stale' }) }));
  });
});

describe('QuoteVerifier', () => {
  it('spends a challenge on its first answer: a second is a replay, an unknown one a wrong nonce', () => {
    const verifier = new QuoteVerifier({ clock });
    const challenge = verifier.challenge();
    expect(challenge).toHaveLength(32);
    const answer = attester.report(challenge, { pcrs: replayMeasurements(chain), log: chain, timestampMs: clock.now() });
    expect(verifier.verify(answer, { ak: attester.ak, policy }).log).toHaveLength(4);
    expect(() => verifier.verify(answer, { ak: attester.ak, policy })).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'replay' }) }));
    expect(() => verifier.verify(report(), { ak: attester.ak, policy })).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'nonce' }) }));
  });

  it('forgets expired challenges and keeps at most maxChallenges', () => {
    const local = new ManualClock(clock.now());
    const verifier = new QuoteVerifier({ clock: local, challengeTtlMs: 1000, maxChallenges: 2 });
    const answer = (c: Uint8Array) => attester.report(c, { pcrs: replayMeasurements(chain), log: chain, timestampMs: local.now() });
    const expired = verifier.challenge();
    local.advance(1001);
    expect(() => verifier.verify(answer(expired), { ak: attester.ak })).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'nonce' }) }));
    const first = verifier.challenge();
    verifier.challenge();
    verifier.challenge(); // evicts `first`
    expect(() => verifier.verify(answer(first), { ak: attester.ak })).toThrow(expect.objectContaining({ details: expect.objectContaining({ reason: 'nonce' }) }));
    expect((verifier as unknown as { outstanding: Map<string, number> }).outstanding.size).toBe(2);
  });
});

describe('enrollAttestationKey', () => {
  it('refuses keys that are not restricted signing keys bound to their TPM', () => {
    const template = attestationKeyTemplate('x');
    for (const attributes of [template.attributes & ~TPMA_OBJECT.restricted, template.attributes & ~TPMA_OBJECT.fixedTPM, template.attributes | TPMA_OBJECT.decrypt]) {
      expect(() => enrollAttestationKey(marshalPublic({ ...template, x: attester.ak.publicKey.subarray(-64, -32), y: attester.ak.publicKey.subarray(-32), attributes }))).toThrow(
        expect.objectContaining({ code: 'ATTESTATION_FAILED', details: { reason: 'signer' } }),
      );
    }
    expect(() => enrollAttestationKey(new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });

  it('computes the qualified name of a primary key of the given hierarchy', () => {
    const owner = enrollAttestationKey(attester.ak.publicArea);
    const endorsement = enrollAttestationKey(attester.ak.publicArea, TPM_RH.ENDORSEMENT);
    expect(Buffer.from(owner.qualifiedName).equals(Buffer.from(endorsement.qualifiedName))).toBe(false);
    expect(owner.name).toEqual(endorsement.name);
  });
});
