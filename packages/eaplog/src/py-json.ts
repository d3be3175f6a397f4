// SPDX-License-Identifier: Apache-2.0
// JSON with Python's byte rules (spec §6.1): ordered keys, ints vs floats kept apart, repr(float) formatting and
// ASCII-only output. The reference writer is Python's json.dumps(separators=(',', ':')), so byte identity needs
// all of this; JS objects would reorder integer-like keys and lose the int/float distinction.
import { ValidationError } from '@ecps/core';

/** A JSON float (Python `float`): written with `repr` rules, e.g. `1750000000.0`. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A JSON value with Python semantics: objects are ordered Maps, integers are bigint, floats are {@link PyFloat}. */
export type PyJson = null | boolean | string | bigint | PyFloat | PyJson[] | PyObject;
/** A JSON object whose key order is exactly the insertion order. */
export type PyObject = Map<string, PyJson>;

/** Builds an ordered object from entries (keys keep their order, even integer-like ones). */
export function pyObject(entries: Iterable<readonly [string, PyJson]> = []): PyObject {
  return new Map(entries);
}

/** Python `repr(float)`: shortest round-trip digits, `.0` when integral, exponent form outside [1e-4, 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa = '', expText = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText); // value = 0.d1d2... × 10^(exp+1)
  if (exp < -4 || exp >= 16) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expSign = exp < 0 ? '-' : '+';
    return `${sign}${digits[0]}${frac}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intLen = exp + 1;
  if (digits.length <= intLen) return `${sign}${digits}${'0'.repeat(intLen - digits.length)}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x08: '\\b',
  0x0c: '\\f',
};

/** Python json.dumps(ensure_ascii=True) string quoting: UTF-16 code units < 0x20 or ≥ 0x7F as lowercase \u escapes. */
export function pyQuote(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (unit < 0x20 || unit >= 0x7f) out += `\\u${unit.toString(16).padStart(4, '0')}`;
    else out += text[i];
  }
  return `${out}"`;
}

/** Serialises with the exact bytes of Python's `json.dumps(value, separators=(',', ':'))`. */
export function pyDumps(value: PyJson): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return pyQuote(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map(pyDumps).join(',')}]`;
  const parts: string[] = [];
  for (const [key, item] of value) parts.push(`${pyQuote(key)}:${pyDumps(item)}`);
  return `{${parts.join(',')}}`;
}

/** Largest nesting accepted by {@link pyParse}; deeper input is rejected rather than risking the stack. */
const MAX_DEPTH = 256;

/**
 * Parses JSON keeping key order and the int/float distinction (number tokens with `.`, `e` or `E` are floats), as
 * Python's json.loads does. Duplicate keys keep their first position and last value. Throws `DECODE_ERROR`.
 */
export function pyParse(text: string): PyJson {
  let pos = 0;
  const fail = (what: string): never => {
    throw new ValidationError('DECODE_ERROR', `invalid JSON: ${what} at character ${pos}`, { details: { position: pos } });
  };
  const ws = (): void => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos] as string)) pos++;
  };
  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const ch = text[pos] as string;
      if (ch === '"') {
        pos++;
        return out;
      }
      if (ch === '\\') {
        const esc = text[pos + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (esc === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else if (esc !== undefined && simple[esc] !== undefined) {
          out += simple[esc];
          pos += 2;
        } else fail('bad escape');
      } else {
        if (ch.charCodeAt(0) < 0x20) fail('control character in string');
        out += ch;
        pos++;
      }
    }
  };
  const parseValue = (depth: number): PyJson => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const ch = text[pos];
    if (ch === '{') {
      pos++;
      const obj: PyObject = new Map();
      ws();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail('expected a key');
        const key = parseString();
        ws();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        obj.set(key, parseValue(depth + 1));
        ws();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (ch === '[') {
      pos++;
      const arr: PyJson[] = [];
      ws();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        ws();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (ch === '"') return parseString();
    for (const [word, val] of [
      ['true', true],
      ['false', false],
      ['null', null],
      ['NaN', new PyFloat(NaN)],
      ['Infinity', new PyFloat(Infinity)],
      ['-Infinity', new PyFloat(-Infinity)],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return val;
      }
    }
    const match = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400));
    if (!match) return fail('unexpected token');
    pos += match[0].length;
    return match[1] !== undefined || match[2] !== undefined ? new PyFloat(Number(match[0])) : BigInt(match[0]);
  };
  const value = parseValue(0);
  ws();
  if (pos !== text.length) fail('trailing data');
  return value;
}

/** Converts to a plain JS value for display (`--json` output): bigint within 2^53 becomes number, else string. */
export function pyToPlain(value: PyJson): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (value instanceof PyFloat) return value.value;
  if (Array.isArray(value)) return value.map(pyToPlain);
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[k] = pyToPlain(v);
    return out;
  }
  return value;
}

/** Converts a plain JS value (e.g. from --metadata) to PyJson: non-integral numbers become floats, integers ints. */
export function plainToPy(value: unknown): PyJson {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : new PyFloat(value);
  if (value instanceof PyFloat) return value;
  if (Array.isArray(value)) return value.map(plainToPy);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [String(k), plainToPy(v)]));
  if (typeof value === 'object') return new Map(Object.entries(value).map(([k, v]) => [k, plainToPy(v)]));
  throw new ValidationError('INVALID_ARGUMENT', `cannot represent ${typeof value} in a log header`);
}
