// SPDX-License-Identifier: Apache-2.0
// A stand-in for a TPM's attestation key, in software, for the verifier's unit tests and fuzz target only: it signs
// TPMS_ATTEST structures of our choosing (including ones a real TPM never makes: no magic, another type, wrong
// digests), so every check of the verifier can be shown to refuse. Real quotes come from swtpm in the other tests.
import { createECDH, createPrivateKey, sign } from 'node:crypto';
import type { AttestationEvidence } from '@ecps/core';
import { attestationSigningInput } from '@ecps/trust';
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST } from '../src/constants';
import { TpmWriter } from '../src/marshal';
import type { Measurement } from '../src/measured-boot';
import { writePcrSelection } from '../src/pcr-selection';
import { attestationKeyTemplate, marshalPublic } from '../src/public-area';
import { marshalSignature, pcrDigest } from '../src/quote';
import { encodeQuoteMeasurements } from '../src/report';
import { enrollAttestationKey, type EnrolledAttestationKey } from '../src/verifier';

export interface QuoteFields {
  magic?: number;
  type?: number;
  extraData?: Uint8Array;
  /** PCRs named in the selection (default: the reported ones). */
  selection?: number[];
  /** Replaces the digest the quote carries. */
  pcrDigest?: Uint8Array;
  qualifiedSigner?: Uint8Array;
}

export interface SoftwareAttester {
  readonly ak: EnrolledAttestationKey;
  /** A report as `TpmKeyProvider.attest` makes it, with the quote's fields overridable. */
  report(nonce: Uint8Array, contents: { pcrs: Map<number, Uint8Array>; log: readonly Measurement[]; timestampMs: number; quote?: QuoteFields }): AttestationEvidence;
}

/** A software AK from a fixed private scalar (`fill` repeated), so runs are reproducible. */
export function softwareAttester(fill = 0x11): SoftwareAttester {
  const d = Buffer.alloc(32, fill);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const x = point.subarray(1, 33);
  const y = point.subarray(33);
  const key = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: x.toString('base64url'), y: y.toString('base64url') },
    format: 'jwk',
  });
  const ak = enrollAttestationKey(marshalPublic({ ...attestationKeyTemplate('software'), x, y }));
  const p1363 = (data: Uint8Array) => new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
  return {
    ak,
    report(nonce, { pcrs, log, timestampMs, quote = {} }) {
      const quoted = [...pcrs.keys()].sort((a, b) => a - b);
      const w = new TpmWriter()
        .u32(quote.magic ?? TPM_GENERATED_VALUE)
        .u16(quote.type ?? TPM_ST.ATTEST_QUOTE)
        .sized(quote.qualifiedSigner ?? ak.qualifiedName)
        .sized(quote.extraData ?? nonce)
        .u64(1234n)
        .u32(1)
        .u32(0)
        .u8(1)
        .u64(0x2023n);
      writePcrSelection(w, [{ hash: TPM_ALG.SHA256, pcrs: quote.selection ?? quoted }]);
      w.sized(quote.pcrDigest ?? pcrDigest(TPM_ALG.SHA256, quoted.map((p) => pcrs.get(p)!)));
      const attest = w.bytes();
      const raw = p1363(attest);
      const signature = marshalSignature({ alg: 'ecdsa', hash: TPM_ALG.SHA256, r: raw.subarray(0, 32), s: raw.subarray(32) });
      const body = {
        type: 'tpm_quote' as const,
        deviceId: ak.deviceId,
        nonce,
        timestamp: timestampMs / 1000,
        measurements: encodeQuoteMeasurements({ pcrs, log, attest, signature }),
      };
      return { ...body, signature: p1363(attestationSigningInput(body)) };
    },
  };
}
