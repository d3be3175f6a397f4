// SPDX-License-Identifier: Apache-2.0
// Enum normalisation: proto-loader peers hand enums over as names, our code compares numbers (spec §2.4).

type NumericEnum = Record<string, string | number>;

/**
 * Normalises an enum value given as a number, numeric string or value name (case-insensitive, optional
 * `prefix`). Unknown numbers are kept (open enums); unknown names and other input give `undefined`.
 */
export function normaliseEnum(enumObject: NumericEnum, value: unknown, prefix = ''): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return Number(text);
  const upper = text.toUpperCase();
  const candidates = !prefix ? [upper] : upper.startsWith(prefix) ? [upper, upper.slice(prefix.length)] : [upper, prefix + upper];
  for (const candidate of candidates) {
    const found = enumObject[candidate];
    if (typeof found === 'number' && found >= 0) return found;
  }
  return undefined;
}

/** The value name of a known enum number, else the number as a string (unknown numbers stay visible). */
export function enumName(enumObject: NumericEnum, value: number): string {
  const name = enumObject[value];
  return typeof name === 'string' && name !== 'UNRECOGNIZED' ? name : String(value);
}
