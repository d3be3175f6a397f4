// SPDX-License-Identifier: Apache-2.0
// Marshalling round trips (property tests) and the reader's bounds.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TPM_ALG, TPM_ECC_NIST_P256 } from './constants';
import { responseCodeName, TpmError } from './errors';
import { TpmReader, TpmWriter } from './marshal';
import { readPcrSelection, writePcrSelection } from './pcr-selection';
import { marshalPublic, parsePublic, type TpmPublic } from './public-area';
import { marshalSignature, parseSignature, type TpmSignature } from './quote';

const bytes = (max: number) => fc.uint8Array({ maxLength: max });

describe('TPM marshalling', () => {
  it('round-trips public areas of ECC and RSA keys', () => {
    const common = {
      nameAlg: fc.constantFrom(TPM_ALG.SHA256, TPM_ALG.SHA384),
      attributes: fc.nat({ max: 0xffffffff }),
      authPolicy: bytes(64),
      symmetric: fc.option(fc.record({ alg: fc.constant(TPM_ALG.AES), detail: fc.constantFrom(128, 256), mode: fc.constant(TPM_ALG.CFB) }), { nil: undefined }),
    };
    const ecc = fc.record({
      ...common,
      type: fc.constant('ecc' as const),
      scheme: fc.option(fc.record({ alg: fc.constant(TPM_ALG.ECDSA), detail: fc.constant(TPM_ALG.SHA256) }), { nil: undefined }),
      curve: fc.constant(TPM_ECC_NIST_P256),
      x: bytes(32),
      y: bytes(32),
    });
    const rsa = fc.record({
      ...common,
      type: fc.constant('rsa' as const),
      scheme: fc.option(fc.record({ alg: fc.constant(TPM_ALG.RSAPSS), detail: fc.constant(TPM_ALG.SHA256) }), { nil: undefined }),
      keyBits: fc.constantFrom(2048, 3072),
      exponent: fc.nat(),
      modulus: bytes(384),
    });
    fc.assert(
      fc.property(fc.oneof(ecc, rsa), (pub) => {
        const clean = Object.fromEntries(Object.entries(pub).filter(([, v]) => v !== undefined)) as unknown as TpmPublic;
        expect(parsePublic(marshalPublic(clean))).toEqual(clean);
      }),
    );
  });

  it('round-trips signatures and PCR selections', () => {
    fc.assert(
      fc.property(bytes(66), bytes(66), (r, s) => {
        const sig: TpmSignature = { alg: 'ecdsa', hash: TPM_ALG.SHA256, r, s };
        expect(parseSignature(marshalSignature(sig))).toEqual(sig);
      }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 23 })), (pcrs) => {
        const w = new TpmWriter();
        writePcrSelection(w, [{ hash: TPM_ALG.SHA256, pcrs }]);
        expect(readPcrSelection(new TpmReader(w.bytes()))).toEqual([{ hash: TPM_ALG.SHA256, pcrs: [...pcrs].sort((a, b) => a - b) }]);
      }),
    );
  });

  it('refuses truncated, trailing and oversized input with DECODE_ERROR', () => {
    const pub = marshalPublic({ type: 'ecc', nameAlg: TPM_ALG.SHA256, attributes: 0, authPolicy: new Uint8Array(0), curve: TPM_ECC_NIST_P256, x: new Uint8Array(32), y: new Uint8Array(32) });
    expect(() => parsePublic(pub.subarray(0, pub.length - 1))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => parsePublic(Uint8Array.from([...pub, 0]))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => new TpmReader(Uint8Array.of(0, 9, 1, 2)).sized(8)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => new TpmWriter().sized(new Uint8Array(0x10000))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => writePcrSelection(new TpmWriter(), [{ hash: TPM_ALG.SHA256, pcrs: [24] }])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('names response codes with their handle, parameter or session', () => {
    expect(responseCodeName(0x1d5)).toBe('TPM_RC_SIZE (parameter 1)');
    expect(responseCodeName(0x18b)).toBe('TPM_RC_HANDLE (handle 1)');
    expect(responseCodeName(0x98e)).toBe('TPM_RC_AUTH_FAIL (session 1)');
    expect(responseCodeName(0x902)).toBe('TPM_RC_OBJECT_MEMORY');
    expect(TpmError.fromResponse('TPM2_Load', 0x1df)).toMatchObject({ name: 'TpmError', code: 'DECRYPTION_FAILED', rc: 0x1df, details: { rcName: 'TPM_RC_INTEGRITY (parameter 1)' } });
  });
});
