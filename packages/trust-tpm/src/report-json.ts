// SPDX-License-Identifier: Apache-2.0
// The JSON form of the spec's attestation report (snake_case fields, bytes as hex), read with bounds because it
// arrives from the device being judged.
import { fromHex, toHex, type AttestationEvidence } from '@ecps/core';
import { TrustError } from '@ecps/trust';

/** Largest report accepted (a quote of 24 PCRs with a full 1024-entry log stays well below). */
export const MAX_REPORT_BYTES = 256 * 1024;

const TYPES: ReadonlySet<string> = new Set(['tpm_quote', 'platform_attestation', 'device_identity', 'secure_boot', 'runtime_integrity']);
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** UTF-8 JSON of a report: `attestation_type`, `device_id`, `timestamp`, `nonce` (hex), `measurements`, `signature` (hex), `certificate_chain`. */
export function encodeReport(report: AttestationEvidence): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      attestation_type: report.type,
      device_id: report.deviceId,
      timestamp: report.timestamp,
      nonce: toHex(report.nonce),
      measurements: report.measurements,
      signature: toHex(report.signature),
      ...(report.certificateChain ? { certificate_chain: report.certificateChain } : {}),
    }),
  );
}

/**
 * Parses a report's JSON. Checks shapes and sizes only; whether it is true is the verifier's job.
 * @throws TrustError `DECODE_ERROR` for anything else (too large, not JSON, a field missing or of the wrong type).
 */
export function decodeReport(bytes: Uint8Array): AttestationEvidence {
  const bad = (message: string) => new TrustError('DECODE_ERROR', `malformed attestation report: ${message}`);
  if (bytes.length > MAX_REPORT_BYTES) throw bad(`${bytes.length} bytes exceeds ${MAX_REPORT_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad('not UTF-8 JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not an object');
  const r = raw as Record<string, unknown>;
  const hex = (field: string, max: number): Uint8Array => {
    const v = r[field];
    if (typeof v !== 'string' || v.length > max * 2 || !HEX.test(v)) throw bad(`${field} must be hex of at most ${max} bytes`);
    return fromHex(v);
  };
  if (typeof r['attestation_type'] !== 'string' || !TYPES.has(r['attestation_type'])) throw bad('unknown attestation_type');
  if (typeof r['device_id'] !== 'string' || r['device_id'].length > 64) throw bad('device_id must be a short string');
  if (typeof r['timestamp'] !== 'number' || !Number.isFinite(r['timestamp'])) throw bad('timestamp must be a number');
  const m = r['measurements'];
  if (typeof m !== 'object' || m === null || Array.isArray(m) || Object.values(m).some((v) => typeof v !== 'string')) {
    throw bad('measurements must map names to strings');
  }
  const chain = r['certificate_chain'];
  if (chain !== undefined && (!Array.isArray(chain) || chain.some((c) => typeof c !== 'string'))) throw bad('certificate_chain must be a list of PEM strings');
  return {
    type: r['attestation_type'] as AttestationEvidence['type'],
    deviceId: r['device_id'],
    timestamp: r['timestamp'],
    nonce: hex('nonce', 1024),
    measurements: { ...(m as Record<string, string>) },
    signature: hex('signature', 1024),
    ...(chain !== undefined ? { certificateChain: chain as string[] } : {}),
  };
}
