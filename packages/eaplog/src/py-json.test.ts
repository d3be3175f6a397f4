// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PyFloat, pyDumps, pyFloatRepr, pyObject, pyParse } from './py-json';

describe('Python JSON byte rules (§6.1)', () => {
  it.each([
    [1750000000.0, '1750000000.0'],
    [1750000000.123456, '1750000000.123456'],
    [0.1, '0.1'],
    [1e16, '1e+16'],
    [1.5e-5, '1.5e-05'],
    [0.0001, '0.0001'],
    [9999999999999998, '9999999999999998.0'],
    [123456789012345680000, '1.2345678901234568e+20'],
    [-0, '-0.0'],
    [-2.5, '-2.5'],
    [5e-324, '5e-324'],
    [Infinity, 'Infinity'],
  ])('repr(%p) = %s', (value, text) => {
    expect(pyFloatRepr(value)).toBe(text);
  });

  it('escapes like ensure_ascii: control and non-ASCII as lowercase \\u, surrogate pairs as two escapes', () => {
    expect(pyDumps('a"b\\c\n\r\t\b\f\u0001\u007f é 😀')).toBe('"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f \\u00e9 \\ud83d\\ude00"');
  });

  it('keeps key order (integer-like keys too) and the int/float distinction when re-written', () => {
    const text = '{"b":1,"2":2.0,"a":[1e2,-0.5,null,true],"n":{"x":12345678901234567890}}';
    const value = pyParse(text);
    expect(pyDumps(value)).toBe('{"b":1,"2":2.0,"a":[100.0,-0.5,null,true],"n":{"x":12345678901234567890}}');
    expect(pyDumps(pyObject([['2', new PyFloat(3)], ['1', 1n]]))).toBe('{"2":3.0,"1":1}');
  });

  it('rejects malformed JSON with DECODE_ERROR', () => {
    for (const bad of ['{', '{"a":}', '[1,]', '"\\x"', '{"a":1} x', '']) expect(() => pyParse(bad)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });

  it('float repr round-trips and matches JS digits', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = pyFloatRepr(x);
        expect(Number(text)).toBe(x);
        expect(text).toMatch(/^-?(\d+\.\d+|\d(\.\d+)?e[+-]\d\d+)$/);
      }),
      { numRuns: 2000 },
    );
  });
});
