// SPDX-License-Identifier: Apache-2.0
// Runs the CLI as this process: its arguments, streams, signals and exit code.
import { runCli } from './main';
import { Output, describeError } from './kit/index';
import type { EcpsCommand } from './kit/index';

const INTERRUPTED = 130;

/** Runs `ecps <argv>` with `commands` and ends the process with its exit code. */
export async function runProcess(argv: readonly string[], commands: readonly EcpsCommand[]): Promise<void> {
  const out = new Output();
  const interrupted = new AbortController();
  const forced = new AbortController();

  // First SIGINT/SIGTERM: the command stops (servers drain). Second: it skips any grace and gets 2 s. Third: now.
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) interrupted.abort();
    else if (signals === 2) {
      forced.abort();
      setTimeout(() => process.exit(INTERRUPTED), 2_000).unref();
    } else process.exit(INTERRUPTED);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // Work a command abandoned (a demo step cut short) must never print a stack trace or keep a failed run alive.
  const crash = (error: unknown): void => {
    if (!out.closed.aborted) out.message(`ecps: ${describeError(error)}`);
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  const code = await runCli(argv, { out, interrupted: interrupted.signal, forced: forced.signal }, commands);
  process.exitCode = code;
  // Let stdout drain, then end even if something abandoned still holds the event loop.
  setTimeout(() => process.exit(code), 2_000).unref();
}
