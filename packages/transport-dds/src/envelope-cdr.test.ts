import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { MAX_EXTENSIONS, decodeEnvelope, encodeEnvelope, encodeEnvelopeInto } from './envelope-cdr';

const text = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'é', '✓', '😀'), fc.string({ minLength: 1, maxLength: 1 })) }).filter((s) => !s.includes('\0'));
const extensionName = fc.stringMatching(/^[a-z0-9]{1,20}$/).filter((k) => k !== 'datacontenttype');

const event: fc.Arbitrary<EcpsEvent> = fc.record(
  {
    id: text,
    source: text,
    type: text,
    time: text.filter((t) => t !== ''),
    datacontenttype: fc.constantFrom('application/protobuf', 'application/json', 'text/plain'),
    extensions: fc.dictionary(extensionName, text, { maxKeys: 8 }),
    data: fc.uint8Array({ maxLength: 2048 }),
  },
  { requiredKeys: ['id', 'source', 'type', 'data', 'datacontenttype'] },
);

const normalised = (e: EcpsEvent) => ({
  ...e,
  extensions: e.extensions && Object.keys(e.extensions).length > 0 ? e.extensions : undefined,
  data: Buffer.from(e.data).toString('hex'),
});

describe('ecps::dds::Envelope XCDR codec', () => {
  it('round-trips any event', () => {
    fc.assert(
      fc.property(event, (e) => {
        const back = decodeEnvelope(Buffer.from(encodeEnvelope(e)));
        expect(normalised(back)).toEqual(normalised({ ...e, ...(e.extensions && Object.keys(e.extensions).length === 0 ? { extensions: undefined } : {}) }));
      }),
    );
  });

  it('encodes into a shared buffer at any offset the same bytes (alignment counts from the sample), or reports no room', () => {
    fc.assert(
      fc.property(event, fc.integer({ min: 0, max: 7 }), (e, at) => {
        const out = Buffer.alloc(64 * 1024);
        const end = encodeEnvelopeInto(e, out, at);
        expect(Buffer.from(out.subarray(at, end)).equals(Buffer.from(encodeEnvelope(e)))).toBe(true);
      }),
    );
    const e: EcpsEvent = { id: 'i', source: 's', type: 't', data: new Uint8Array(100) };
    const small = Buffer.alloc(120, 0xaa);
    expect(encodeEnvelopeInto(e, small, 10)).toBe(-1);
    expect(small.every((b) => b === 0xaa)).toBe(true);
  });

  it('decodes a repeated source and type exactly, whatever was decoded before (ASCII or not)', () => {
    const sources = ['urn:ecps:a', 'urn:ecps:b', 'urn:ecps:é', 'urn:ecps:\u00e9', 'urn:ecps:a', 'urn:ecps:ab', ''];
    for (const source of [...sources, ...sources.reverse()]) {
      const back = decodeEnvelope(Buffer.from(encodeEnvelope({ id: 'i', source, type: source.toUpperCase(), data: new Uint8Array(0) })));
      expect([back.source, back.type]).toEqual([source, source.toUpperCase()]);
    }
    // a Latin-1 code unit never matches the byte of the same value (that byte alone is not UTF-8)
    decodeEnvelope(Buffer.from(encodeEnvelope({ id: 'i', source: 'x', type: '\u00e9A', data: new Uint8Array(0) })));
    const raw = Buffer.from(encodeEnvelope({ id: 'i', source: 'x', type: 'zA', data: new Uint8Array(0) }));
    raw[raw.indexOf('zA')] = 0xe9;
    expect(decodeEnvelope(raw).type).toBe('\ufffdA');
  });

  it('writes XCDR1 little-endian with 4-aligned lengths, as Cyclone lays out the idlc type', () => {
    const bytes = encodeEnvelope({ id: 'i', source: 'urn:ecps:a', type: 't', time: '', extensions: { k: 'vv' }, data: Uint8Array.of(1, 2, 3) });
    expect(Buffer.from(bytes).toString('hex')).toBe(
      [
        '00010000', // encapsulation: CDR_LE
        '0b000000', '75726e3a656370733a6100', '00', // source "urn:ecps:a" (11 with NUL), pad to 4
        '02000000', '6900', '0000', // id "i"
        '02000000', '7400', '0000', // type "t"
        '01000000', '00', '000000', // time ""
        '01000000', // 1 extension
        '02000000', '6b00', '0000', '03000000', '767600', '00', // "k" = "vv"
        '03000000', '010203', // data
      ].join(''),
    );
  });

  it('reads XCDR2 too (a DHEADER before the KeyValue sequence)', () => {
    const xcdr1 = Buffer.from(encodeEnvelope({ id: 'i', source: 's', type: 't', extensions: { a: 'b' }, data: Uint8Array.of(9) }));
    // strings: 4+4+2(+2) per field; the extension sequence starts at offset 4 + 4 * 8 = 36
    const at = 4 + 4 * 8;
    const xcdr2 = Buffer.concat([xcdr1.subarray(0, at), Buffer.from('10000000', 'hex'), xcdr1.subarray(at)]);
    xcdr2[1] = 0x07;
    expect(normalised(decodeEnvelope(xcdr2))).toEqual(normalised(decodeEnvelope(xcdr1)));
  });

  it('carries a non-protobuf datacontenttype as an extension, and reports protobuf by default', () => {
    const wire = decodeEnvelope(Buffer.from(encodeEnvelope({ id: 'i', source: 's', type: 't', datacontenttype: 'application/json', data: new Uint8Array(0) })));
    expect(wire.datacontenttype).toBe('application/json');
    expect(wire.extensions).toBeUndefined();
    expect(decodeEnvelope(Buffer.from(encodeEnvelope({ id: 'i', source: 's', type: 't', data: new Uint8Array(0) }))).datacontenttype).toBe('application/protobuf');
  });

  it('refuses what does not fit the envelope with INVALID_ARGUMENT', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_EXTENSIONS + 1 }, (_, i) => [`k${i}`, 'v']));
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return isEcpsError(error) ? error.code : error;
      }
      return 'no error';
    };
    expect(codeOf(() => encodeEnvelope({ id: 'i', source: 's', type: 't', extensions: many, data: new Uint8Array(0) }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encodeEnvelope({ id: 'a\0b', source: 's', type: 't', data: new Uint8Array(0) }))).toBe('INVALID_ARGUMENT');
  });

  it('refuses every truncation and corruption of a sample with DECODE_ERROR, never anything else', () => {
    const whole = Buffer.from(encodeEnvelope({ id: 'id', source: 'urn:ecps:x', type: 'ecps.ext.t', time: 'now', extensions: { a: 'b' }, data: Uint8Array.of(1, 2) }));
    for (let n = 0; n < whole.length; n++) {
      expect(() => decodeEnvelope(whole.subarray(0, n))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }) as unknown as Error);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeEnvelope(Buffer.from(bytes));
        } catch (error) {
          expect(isEcpsError(error, 'DECODE_ERROR')).toBe(true);
        }
      }),
    );
  });

  it('refuses a string with a NUL before its end (a C peer would see less)', () => {
    const bytes = Buffer.from(encodeEnvelope({ id: 'abcd', source: 's', type: 't', data: new Uint8Array(0) }));
    bytes[4 + 8 + 4 + 1] = 0; // "a\0cd" inside the id
    expect(() => decodeEnvelope(bytes)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }) as unknown as Error);
  });

  it('gives data its own copy unless it is most of the buffer', () => {
    const small = Buffer.concat([Buffer.from(encodeEnvelope({ id: 'i', source: 's', type: 't', data: Uint8Array.of(1, 2) })), Buffer.alloc(100)]);
    const e = decodeEnvelope(small, 0, small.length - 100);
    expect(e.data.buffer).not.toBe(small.buffer);
    const big = Buffer.from(encodeEnvelope({ id: 'i', source: 's', type: 't', data: new Uint8Array(4096) }));
    expect(decodeEnvelope(big).data.buffer).toBe(big.buffer);
  });
});
