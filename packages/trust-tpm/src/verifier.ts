// SPDX-License-Identifier: Apache-2.0
// The verifier side, pure TypeScript: an enrolled attestation key, fresh single-use challenges, and the checks of a
// quote report (TPM structures, nonce, PCR selection and digest, spec report signature, measurement log, policy).
import { createHash, timingSafeEqual } from 'node:crypto';
import { cryptoRandom, systemClock, toHex, type AttestationEvidence, type Clock, type RandomSource } from '@ecps/core';
import { TrustError, attestationDeviceId, verifyAttestation } from '@ecps/trust';
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_RH, TPM_ST, TPMA_OBJECT } from './constants';
import { TpmWriter } from './marshal';
import { firstMismatch, policyPcrs, replayMeasurements, type BootPolicy, type Measurement } from './measured-boot';
import { hasAttributes, objectName, parsePublic, spkiOf, type TpmPublic } from './public-area';
import { parseAttest, parseSignature, pcrDigest, verifyTpmSignature, type TpmClockInfo } from './quote';
import { decodeQuoteMeasurements } from './report';

/** Why a quote report was refused (`details.reason` of `ATTESTATION_FAILED`). */
export type QuoteRejection =
  | 'malformed'
  | 'signer'
  | 'quote-signature'
  | 'magic'
  | 'type'
  | 'nonce'
  | 'replay'
  | 'pcr-selection'
  | 'pcr-digest'
  | 'signature'
  | 'stale'
  | 'event-log'
  | 'measurement';

/** An attestation key a verifier trusts: its public area and the qualified name the TPM puts in its quotes. */
export interface EnrolledAttestationKey {
  /** TPMT_PUBLIC of the AK. */
  readonly publicArea: Uint8Array;
  /** Name of the AK (`nameAlg ‖ H(publicArea)`). */
  readonly name: Uint8Array;
  /** Qualified name: the AK's name chained under its hierarchy; every quote it signs names it. */
  readonly qualifiedName: Uint8Array;
  /** The spec's `device_id` of reports it signs (first 16 hex of SHA-256 of the SPKI PEM). */
  readonly deviceId: string;
  /** SubjectPublicKeyInfo DER. */
  readonly publicKey: Uint8Array;
}

function fail(reason: QuoteRejection, message: string, details: Record<string, unknown> = {}): TrustError {
  return new TrustError('ATTESTATION_FAILED', message, { details: { reason, ...details } });
}

const AK_ATTRIBUTES = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

/**
 * Accepts an attestation key for enrolment: an ECC P-256 key that is restricted, signing-only, generated in the TPM
 * and unable to leave it, created as a primary key of `hierarchy` (the owner hierarchy by default, as
 * `TpmKeyProvider` makes them). Whether the key is in the TPM of a known EK is proved separately by
 * {@link makeCredential} and `TpmKeyProvider.activateCredential`.
 * @throws TrustError `ATTESTATION_FAILED` (`details.reason` `signer`) for any other key, `DECODE_ERROR` for bad bytes.
 */
export function enrollAttestationKey(publicArea: Uint8Array, hierarchy: number = TPM_RH.OWNER): EnrolledAttestationKey {
  const pub = parsePublic(publicArea);
  if (pub.type !== 'ecc' || !hasAttributes(pub, AK_ATTRIBUTES) || pub.attributes & TPMA_OBJECT.decrypt) {
    throw fail('signer', 'not an attestation key: must be a restricted ECC signing key that never leaves its TPM');
  }
  const name = objectName(publicArea);
  const qualifiedName = new TpmWriter()
    .u16(pub.nameAlg)
    .raw(createHash('sha256').update(new TpmWriter().u32(hierarchy).bytes()).update(name).digest())
    .bytes();
  const publicKey = spkiOf(pub);
  return { publicArea, name, qualifiedName, publicKey, deviceId: attestationDeviceId({ algorithm: 'ecdsa-p256', publicKey }) };
}

/** What a successful verification established. */
export interface VerifiedQuote {
  readonly deviceId: string;
  /** Quoted SHA-256 PCR values (hex) by index. */
  readonly pcrs: Readonly<Record<number, string>>;
  /** The measurement log, which replays to those PCRs. */
  readonly log: readonly Measurement[];
  readonly clockInfo: TpmClockInfo;
}

export interface VerifyQuoteOptions {
  ak: EnrolledAttestationKey;
  /** The challenge the report must answer. */
  nonce: Uint8Array;
  /** The expected boot chain; its PCRs must be quoted, and the log must match it stage by stage. */
  policy?: BootPolicy;
  /** Bound on |now − timestamp| of the report. Default 300 s (spec §10). */
  maxSkewMs?: number;
  clock?: Clock;
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);

/**
 * Checks a `tpm_quote` report made by `TpmKeyProvider.attest`, in this order: the report is of the enrolled AK
 * (`signer`); the TPM's signature over TPMS_ATTEST (`quote-signature`); TPM_GENERATED_VALUE (`magic`); a quote
 * (`type`); extraData and the report nonce are the challenge (`nonce`); the quote covers the policy's PCRs and the
 * report gives a value for exactly the quoted ones (`pcr-selection`); those values hash to the quoted digest
 * (`pcr-digest`); the spec's report signature, device id and freshness (`signature`, `signer`, `stale`); the
 * measurement log replays to every quoted PCR (`event-log`); the log matches the policy (`measurement`, naming the
 * first stage that differs).
 * @throws TrustError `ATTESTATION_FAILED` with `details.reason` one of {@link QuoteRejection}.
 */
export function verifyQuoteReport(report: AttestationEvidence, options: VerifyQuoteOptions): VerifiedQuote {
  const { ak } = options;
  if (report.type !== 'tpm_quote') throw fail('malformed', `not a tpm_quote report: ${String(report.type)}`);
  if (report.deviceId !== ak.deviceId) throw fail('signer', `report of device ${report.deviceId}, not of the enrolled attestation key ${ak.deviceId}`);
  const contents = decodeQuoteMeasurements(report.measurements);
  let attest: ReturnType<typeof parseAttest>;
  let signature: ReturnType<typeof parseSignature>;
  let akPublic: TpmPublic;
  try {
    attest = parseAttest(contents.attest);
    signature = parseSignature(contents.signature);
    akPublic = parsePublic(ak.publicArea);
  } catch (cause) {
    throw new TrustError('ATTESTATION_FAILED', `malformed quote: ${(cause as Error).message}`, { cause, details: { reason: 'malformed' } });
  }
  if (!same(attest.qualifiedSigner, ak.qualifiedName)) throw fail('signer', 'the quote was signed by another attestation key');
  if (!verifyTpmSignature(akPublic, contents.attest, signature)) throw fail('quote-signature', 'the TPM signature over the quote does not verify');
  if (attest.magic !== TPM_GENERATED_VALUE) throw fail('magic', 'the signed structure was not made by a TPM (no TPM_GENERATED_VALUE)');
  if (attest.type !== TPM_ST.ATTEST_QUOTE || !attest.quote) throw fail('type', `the signed structure is not a quote (type 0x${attest.type.toString(16)})`);
  if (!same(attest.extraData, options.nonce) || !same(report.nonce, options.nonce)) throw fail('nonce', 'the quote does not answer this challenge');

  const banks = attest.quote.pcrSelection.filter((bank) => bank.pcrs.length > 0);
  const quoted = banks.length === 1 && banks[0]!.hash === TPM_ALG.SHA256 ? banks[0]!.pcrs : undefined;
  if (!quoted) throw fail('pcr-selection', 'the quote must cover the SHA-256 bank only');
  const missing = options.policy ? policyPcrs(options.policy).filter((pcr) => !quoted.includes(pcr)) : [];
  if (missing.length > 0) throw fail('pcr-selection', `the quote does not cover PCR ${missing.join(', ')}`, { pcrs: missing });
  if (contents.pcrs.size !== quoted.length || quoted.some((pcr) => !contents.pcrs.has(pcr))) {
    throw fail('pcr-selection', 'the reported PCR values are not those quoted');
  }
  const values = quoted.map((pcr) => contents.pcrs.get(pcr)!);
  if (!same(pcrDigest(signature.hash, values), attest.quote.pcrDigest)) throw fail('pcr-digest', 'the reported PCR values are not those the TPM quoted');

  try {
    verifyAttestation(report, {
      key: { algorithm: 'ecdsa-p256', publicKey: ak.publicKey },
      expectedNonce: options.nonce,
      ...(options.maxSkewMs !== undefined ? { maxSkewMs: options.maxSkewMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
  } catch (error) {
    const reason = (error as TrustError).details?.['reason'];
    throw fail(reason === 'stale' ? 'stale' : reason === 'device-id' ? 'signer' : 'signature', (error as Error).message);
  }

  const replayed = replayMeasurements(contents.log);
  for (const pcr of quoted) {
    const expected = replayed.get(pcr) ?? new Uint8Array(32);
    if (!same(expected, contents.pcrs.get(pcr)!)) {
      throw fail('event-log', `PCR ${pcr} holds a value the measurement log does not explain`, { pcr, quoted: toHex(contents.pcrs.get(pcr)!), replayed: toHex(expected) });
    }
  }
  const unquoted = [...replayed.keys()].filter((pcr) => !quoted.includes(pcr));
  if (unquoted.length > 0) throw fail('event-log', `the log measures PCR ${unquoted.join(', ')}, which the quote does not cover`);
  if (options.policy) {
    const mismatch = firstMismatch(contents.log, options.policy);
    if (mismatch) {
      throw fail('measurement', `measurement ${mismatch.measurement} (stage ${mismatch.index}) does not match the policy`, {
        measurement: mismatch.measurement,
        index: mismatch.index,
        ...(mismatch.expected ? { expected: mismatch.expected.digest } : {}),
        ...(mismatch.actual ? { actual: mismatch.actual.digest } : {}),
      });
    }
  }
  const pcrs: Record<number, string> = {};
  for (const pcr of quoted) pcrs[pcr] = toHex(contents.pcrs.get(pcr)!);
  return { deviceId: report.deviceId, pcrs, log: contents.log, clockInfo: attest.clockInfo };
}

export interface QuoteVerifierOptions {
  /** How long a challenge can be answered. Default 60 s. */
  challengeTtlMs?: number;
  /** Most challenges outstanding (and used ones remembered); the oldest are forgotten first. Default 10 000. */
  maxChallenges?: number;
  /** Bound on |now − timestamp| of reports. Default 300 s. */
  maxSkewMs?: number;
  clock?: Clock;
  random?: RandomSource;
}

/**
 * Issues fresh single-use challenges (32 random bytes) and verifies the reports that answer them. A challenge is
 * spent by its first answer, accepted or not: answering it again is `replay`; answering one never issued, expired or
 * forgotten is `nonce`. Memory is bounded by `maxChallenges`.
 */
export class QuoteVerifier {
  private readonly outstanding = new Map<string, number>();
  private readonly spent = new Map<string, number>();
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly ttl: number;
  private readonly max: number;

  constructor(private readonly options: QuoteVerifierOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.ttl = options.challengeTtlMs ?? 60_000;
    this.max = options.maxChallenges ?? 10_000;
  }

  /** A new challenge for a device to quote. */
  challenge(): Uint8Array {
    const nonce = this.random.bytes(32);
    this.remember(this.outstanding, toHex(nonce));
    return nonce;
  }

  /**
   * Verifies a report answering one of this verifier's challenges (see {@link verifyQuoteReport}) and spends it.
   * @throws TrustError `ATTESTATION_FAILED` (`details.reason`: a {@link QuoteRejection}).
   */
  verify(report: AttestationEvidence, options: { ak: EnrolledAttestationKey; policy?: BootPolicy }): VerifiedQuote {
    const key = toHex(report.nonce);
    const now = this.clock.now();
    const spentUntil = this.spent.get(key);
    if (spentUntil !== undefined && spentUntil > now) throw fail('replay', 'this challenge was already answered');
    const expires = this.outstanding.get(key);
    if (expires === undefined || expires <= now) throw fail('nonce', 'the report does not answer an outstanding challenge');
    this.outstanding.delete(key);
    this.remember(this.spent, key);
    return verifyQuoteReport(report, {
      ...options,
      nonce: report.nonce,
      clock: this.clock,
      ...(this.options.maxSkewMs !== undefined ? { maxSkewMs: this.options.maxSkewMs } : {}),
    });
  }

  private remember(map: Map<string, number>, key: string): void {
    const now = this.clock.now();
    for (const [k, until] of map) {
      if (until > now && map.size < this.max) break;
      map.delete(k); // expired, or the oldest when full (insertion order is expiry order)
    }
    map.set(key, now + this.ttl);
  }
}
