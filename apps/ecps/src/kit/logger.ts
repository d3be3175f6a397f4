// SPDX-License-Identifier: Apache-2.0
// The Logger a command hands to the libraries it runs: their messages go to stderr, never among the data on stdout.
import type { Logger } from '@ecps/core';
import type { Output } from './output';

/**
 * A {@link Logger} writing `LEVEL message {fields}` lines through `out.message`. Debug is dropped; with
 * `quiet`, info too (a short command shows only warnings and errors).
 */
export function stderrLogger(out: Output, options: { quiet?: boolean } = {}): Logger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    out.message(`${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  return { debug: () => undefined, info: options.quiet ? () => undefined : line('INFO '), warn: line('WARN '), error: line('ERROR') };
}
