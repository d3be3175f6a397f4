// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { decodeReport, encodeReport, MAX_REPORT_BYTES } from './report-json';

const report = { type: 'tpm_quote' as const, deviceId: '0123456789abcdef', nonce: new Uint8Array(32).fill(1), timestamp: 1750000000.5, measurements: { 'pcr:sha256:0': '00'.repeat(32) }, signature: Uint8Array.of(1, 2) };
const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe('attestation report JSON', () => {
  it('round-trips the spec field names', () => {
    const bytes = encodeReport(report);
    expect(JSON.parse(new TextDecoder().decode(bytes))).toMatchObject({ attestation_type: 'tpm_quote', device_id: '0123456789abcdef', nonce: '01'.repeat(32), signature: '0102' });
    expect(decodeReport(bytes)).toEqual(report);
  });

  it('refuses oversized, non-JSON and mistyped reports with DECODE_ERROR before using them', () => {
    const good = JSON.parse(new TextDecoder().decode(encodeReport(report))) as Record<string, unknown>;
    for (const bad of [
      new Uint8Array(MAX_REPORT_BYTES + 1).fill(0x20),
      Uint8Array.of(0xff, 0xfe),
      json([]),
      json({ ...good, attestation_type: 'tpm' }),
      json({ ...good, nonce: 'zz' }),
      json({ ...good, timestamp: '1' }),
      json({ ...good, measurements: { a: 1 } }),
      json({ ...good, certificate_chain: 'pem' }),
    ]) {
      expect(() => decodeReport(bad)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    }
  });
});
