// SPDX-License-Identifier: Apache-2.0
// `ecps eaplog ...`: the eaplog CLI of @ecps/eaplog (spec §6.8), same arguments, output and exit codes.
import type { Command } from 'commander';
import { runEaplogCli } from '@ecps/eaplog';

export function registerEaplog(program: Command): void {
  program
    .command('eaplog')
    .description('inspect, validate, migrate and replay .eaplog action logs (see `ecps eaplog --help`)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[args...]', 'eaplog subcommand and its arguments')
    .action(async (args: string[]) => {
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        process.exitCode = await runEaplogCli(args.length === 0 ? ['--help'] : args, {
          isTTY: process.stderr.isTTY,
          signal: controller.signal,
        });
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
