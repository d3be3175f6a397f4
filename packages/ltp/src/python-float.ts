// SPDX-License-Identifier: Apache-2.0
// Python `str(float)`: shortest round-trip digits like JS, but fixed notation for 1e-4 <= |x| < 1e16,
// ".0" on integral values, and a signed two-digit-minimum exponent otherwise ("1e+16", "1.5e-05").

/** Formats a number exactly as Python 3 `str(float)` / `repr(float)` does. */
export function pythonFloatString(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, expPart] = value.toExponential().split('e') as [string, string];
  const exp = Number(expPart);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp >= -4 && exp < 16) {
    let text: string;
    if (exp < 0) text = `0.${'0'.repeat(-exp - 1)}${digits}`;
    else if (digits.length <= exp + 1) text = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
    else text = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
    return sign + text;
  }
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const absExp = Math.abs(exp);
  return `${sign}${mant}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
}
