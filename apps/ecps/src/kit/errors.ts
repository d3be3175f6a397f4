// SPDX-License-Identifier: Apache-2.0
// Exit codes and the one error type a command throws for an expected failure.
import { EcpsError, isEcpsError } from '@ecps/core';
import type { EcpsErrorCode } from '@ecps/core';

/** The exit codes of every `ecps` command (a command whose spec fixes others, like codex's 75 and 78, may add them). */
export const ExitCode = {
  /** The command did what was asked. */
  OK: 0,
  /** The operation failed (an invalid log, a broker that cannot be reached, a demo check that did not hold). */
  FAILED: 1,
  /** The command line is wrong: unknown command or flag, a bad value. */
  USAGE: 2,
  /** Stopped by SIGINT or SIGTERM before it finished. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An expected failure. The CLI prints `ecps <command>: <message>` and `hint: <hint>` on stderr (never a stack trace)
 * and exits with `exitCode`; an empty message prints nothing (the command already said why).
 */
export class CliError extends EcpsError {
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: EcpsErrorCode, message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? exitCodeOf(code);
    this.hint = options.hint;
  }
}

/** A usage error (exit 2): a value the command cannot accept. */
export function usageError(message: string, hint?: string): CliError {
  return new CliError('INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

/** Ends the command with `exitCode` and no further message (it already printed its verdict). */
export function quietExit(exitCode: number): CliError {
  return new CliError(exitCode === ExitCode.INTERRUPTED ? 'CANCELLED' : 'INTERNAL', '', { exitCode });
}

/** Exit code for an error a command let through: usage errors 2, cancellation 130, anything else 1. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  return isEcpsError(error) ? exitCodeOf(error.code) : ExitCode.FAILED;
}

function exitCodeOf(code: EcpsErrorCode): ExitCode {
  if (code === 'INVALID_ARGUMENT' || code === 'CONFIG_INVALID') return ExitCode.USAGE;
  return code === 'CANCELLED' ? ExitCode.INTERRUPTED : ExitCode.FAILED;
}

/**
 * One line for an error: a {@link CliError}'s message as written; any other error's message followed by its causes'
 * ("cannot listen on 127.0.0.1:1883: listen EADDRINUSE: address already in use").
 */
export function describeError(error: unknown): string {
  if (error instanceof CliError) return error.message;
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    const message = e instanceof Error ? e.message : String(e);
    if (message !== '' && !parts.some((p) => p.includes(message))) parts.push(message);
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ');
}
