// SPDX-License-Identifier: Apache-2.0
// Where a command writes: data on stdout, messages on stderr. When the reader of stdout goes away
// (`ecps demo | head -3`), writes stop quietly and `closed` is aborted so long work can stop early.
import type { Writable } from 'node:stream';
import { toHex } from '@ecps/core';

/** A command's two output streams. */
export class Output {
  readonly #closed = new AbortController();
  readonly #stdout: Writable;
  readonly #stderr: Writable;

  constructor(stdout: Writable = process.stdout, stderr: Writable = process.stderr) {
    this.#stdout = stdout;
    this.#stderr = stderr;
    // EPIPE (and any other write error) means nobody reads any more: stop writing, never crash.
    stdout.on('error', (error: Error) => this.#closed.abort(error));
    stderr.on('error', () => undefined);
  }

  /** Aborted once stdout can no longer be written (its reader closed the pipe). */
  get closed(): AbortSignal {
    return this.#closed.signal;
  }

  /** Raw text on stdout (nothing once closed). */
  write(text: string): void {
    if (!this.#closed.signal.aborted) this.#stdout.write(text);
  }

  /** One line of data on stdout. */
  line(text: string): void {
    this.write(`${text}\n`);
  }

  /** One JSON document on one line of stdout; bigints become strings and bytes lowercase hex. */
  json(value: unknown): void {
    this.line(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v)));
  }

  /** Raw text on stderr. */
  error(text: string): void {
    this.#stderr.write(text);
  }

  /** One line for the person at the terminal (progress, notices, errors) on stderr. */
  message(text: string): void {
    this.error(`${text}\n`);
  }
}
