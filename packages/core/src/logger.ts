// SPDX-License-Identifier: Apache-2.0
// Libraries log nothing by default; give them a Logger (pino, console, ...) to hear from them.

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = () => undefined;

/** The default logger: silent. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
