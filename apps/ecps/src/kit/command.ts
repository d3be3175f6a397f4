// SPDX-License-Identifier: Apache-2.0
// What a command gets, and what a command is: a function that adds itself to the program.
import type { Command } from 'commander';
import type { Output } from './output';

/** Shared by every command of one run. */
export interface CommandContext {
  /** stdout for data, stderr for messages. */
  readonly out: Output;
  /** Aborted at the first SIGINT or SIGTERM: servers drain and return, long work stops. */
  readonly interrupted: AbortSignal;
  /** Aborted at a second signal: skip any grace period (the process ends 2 s later regardless). */
  readonly forced: AbortSignal;
}

/**
 * One `ecps` command: adds itself (and its subcommands) to `program`. Its action writes through `ctx.out`, returns
 * when done (exit 0) and throws for a failure: a {@link CliError} for an expected one, which the CLI prints as one
 * line without a stack trace and turns into the exit code.
 */
export type EcpsCommand = (program: Command, ctx: CommandContext) => void;
