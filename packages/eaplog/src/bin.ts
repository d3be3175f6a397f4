#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The `eaplog` executable: runs the CLI on process.argv; SIGINT stops long work with exit code 130.
import { runEaplogCli } from './cli';

// A reader that goes away (`eaplog extract log | head`) ends the output quietly, not with an EPIPE stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`eaplog: cannot write to stdout: ${error.message}\n`);
  process.exit(2);
});
const controller = new AbortController();
process.once('SIGINT', () => {
  controller.abort();
  process.once('SIGINT', () => process.exit(130));
});
runEaplogCli(process.argv.slice(2), { isTTY: process.stderr.isTTY, signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`eaplog: ${String(error)}\n`);
    process.exitCode = 2;
  },
);
