// SPDX-License-Identifier: Apache-2.0
// How a TPM quote travels inside the spec's attestation report (`attestation_type: tpm_quote`): its measurements
// map carries the quoted PCR values, the measurement log, and the TPM's own signed structure and signature, all hex.
//
//   pcr:sha256:<index>            the PCR's value when quoted
//   event:<seq>:<pcr>:<name>      the seq-th measurement (4 digits, from 0000): its SHA-256 digest
//   tpm2:quote                    the TPMS_ATTEST the TPM signed
//   tpm2:signature                its TPMT_SIGNATURE
import { fromHex, toHex } from '@ecps/core';
import { TrustError } from '@ecps/trust';
import { MAX_MEASUREMENTS, checkMeasurement, type Measurement } from './measured-boot';
import { PCR_COUNT } from './pcr-selection';

/** What a quote report carries besides the spec's fields. */
export interface QuoteContents {
  /** SHA-256 PCR values by index, as quoted. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly log: readonly Measurement[];
  readonly attest: Uint8Array;
  readonly signature: Uint8Array;
}

const PCR_KEY = /^pcr:sha256:(\d{1,2})$/;
const EVENT_KEY = /^event:(\d{4}):(\d{1,2}):(.+)$/;
const HEX = /^(?:[0-9a-f]{2})*$/;
/** Largest hex field accepted (a TPMS_ATTEST or TPMT_SIGNATURE is well under 1 KiB). */
const MAX_BLOB_HEX = 4096;

/** The measurements map of a quote report. */
export function encodeQuoteMeasurements(contents: QuoteContents): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [pcr, value] of contents.pcrs) out[`pcr:sha256:${pcr}`] = toHex(value);
  contents.log.forEach((m, seq) => {
    out[`event:${String(seq).padStart(4, '0')}:${m.pcr}:${m.name}`] = m.digest;
  });
  out['tpm2:quote'] = toHex(contents.attest);
  out['tpm2:signature'] = toHex(contents.signature);
  return out;
}

/**
 * Reads the measurements map of a quote report; strict: an unknown key, a bad value or a gap in the log is refused.
 * @throws TrustError `ATTESTATION_FAILED` with `details.reason` `malformed`.
 */
export function decodeQuoteMeasurements(measurements: Readonly<Record<string, string>>): QuoteContents {
  const fail = (message: string) => new TrustError('ATTESTATION_FAILED', `malformed quote report: ${message}`, { details: { reason: 'malformed' } });
  const entries = Object.entries(measurements);
  if (entries.length > MAX_MEASUREMENTS + PCR_COUNT + 2) throw fail(`${entries.length} measurements`);
  const pcrs = new Map<number, Uint8Array>();
  const events: (Measurement | undefined)[] = [];
  let attest: Uint8Array | undefined;
  let signature: Uint8Array | undefined;
  for (const [key, value] of entries) {
    if (typeof value !== 'string' || value.length > MAX_BLOB_HEX || !HEX.test(value)) throw fail(`value of ${key} is not lowercase hex`);
    const pcr = PCR_KEY.exec(key);
    const event = EVENT_KEY.exec(key);
    if (pcr) {
      const index = Number(pcr[1]);
      if (index >= PCR_COUNT || value.length !== 64) throw fail(`${key} is not a SHA-256 PCR`);
      pcrs.set(index, fromHex(value));
    } else if (event) {
      const seq = Number(event[1]);
      if (seq >= MAX_MEASUREMENTS) throw fail(`${key}: too many measurements`);
      try {
        events[seq] = checkMeasurement({ name: event[3]!, pcr: Number(event[2]), digest: value });
      } catch (cause) {
        throw fail(`${key}: ${(cause as Error).message}`);
      }
    } else if (key === 'tpm2:quote') {
      attest = fromHex(value);
    } else if (key === 'tpm2:signature') {
      signature = fromHex(value);
    } else {
      throw fail(`unknown measurement ${key}`);
    }
  }
  if (!attest || !signature) throw fail('tpm2:quote and tpm2:signature are required');
  const log: Measurement[] = [];
  for (let i = 0; i < events.length; i++) {
    const m = events[i];
    if (!m) throw fail(`measurement ${i} is missing`);
    log.push(m);
  }
  return { pcrs, log, attest, signature };
}
