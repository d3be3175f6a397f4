// SPDX-License-Identifier: Apache-2.0
// The options every command shares, and the one way numeric values are read (flags and environment alike).
import { InvalidArgumentError, Option } from 'commander';

/** Reads an integer in [min, max]; anything else (abc, 1.5, 1e3, empty) is refused with the same sentence. */
export function parseInteger(text: string, range: { min?: number; max?: number } = {}): number {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  const value = /^[-+]?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`Expected an integer${describeRange(min, max)}.`);
  }
  return value;
}

function describeRange(min: number, max: number): string {
  if (min > Number.MIN_SAFE_INTEGER && max < Number.MAX_SAFE_INTEGER) return ` from ${min} to ${max}`;
  if (min > Number.MIN_SAFE_INTEGER) return ` of at least ${min}`;
  return max < Number.MAX_SAFE_INTEGER ? ` of at most ${max}` : '';
}

/** A commander argument parser for integers in [min, max] (`.option('--max <n>', 'how many', integer({ min: 1 }))`). */
export function integer(range: { min?: number; max?: number } = {}): (text: string) => number {
  return (text) => parseInteger(text, range);
}

/** Reads a decimal number in [min, max] (`48.85`, `-2`, `1e-3`); anything else is refused with the same sentence. */
export function parseDecimal(text: string, range: { min?: number; max?: number } = {}): number {
  const { min = -Number.MAX_VALUE, max = Number.MAX_VALUE } = range;
  const value = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || value < min || value > max) {
    const bounds = min > -Number.MAX_VALUE && max < Number.MAX_VALUE ? ` from ${min} to ${max}` : min > -Number.MAX_VALUE ? ` of at least ${min}` : max < Number.MAX_VALUE ? ` of at most ${max}` : '';
    throw new InvalidArgumentError(`Expected a number${bounds}.`);
  }
  return value;
}

/** A commander argument parser for decimal numbers in [min, max] (`.option('--lat <deg>', 'latitude', decimal({ min: -90, max: 90 }))`). */
export function decimal(range: { min?: number; max?: number } = {}): (text: string) => number {
  return (text) => parseDecimal(text, range);
}

/** A TCP port: 0 (pick a free one) to 65535. */
export const port = integer({ min: 0, max: 65_535 });

/** `--json`: print the command's data as JSON on stdout instead of text. */
export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON (one document per line) instead of text');
}
