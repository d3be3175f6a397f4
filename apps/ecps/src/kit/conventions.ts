// SPDX-License-Identifier: Apache-2.0
// Gives every command and subcommand the same behaviour once they are all registered: help and usage errors through
// the context's streams, a one-line usage error with a hint, errors thrown instead of process.exit.
import type { Command } from 'commander';
import type { Output } from './output';

/** The name a user types for `command`, e.g. `ecps eaplog` or `ecps codex start`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Applies the conventions to `command` and everything under it. */
export function applyConventions(command: Command, out: Output): void {
  const path = commandPath(command);
  command
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out.write(text),
      writeErr: (text) => out.error(text),
      // commander says "error: unknown option '--x'\n(Did you mean --y?)": make it one line naming the command
      outputError: (text, write) => write(`${path}: ${text.replace(/^error: /, '').replace(/\n\(Did you mean (.+)\?\)/, ' (did you mean $1?)')}`),
    })
    .showHelpAfterError(`hint: see '${path} --help'`);
  for (const sub of command.commands) applyConventions(sub, out);
}
