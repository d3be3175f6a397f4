// SPDX-License-Identifier: Apache-2.0
// `ecps eaplog ...`: mounts the eaplog CLI of @ecps/eaplog (spec §6.8) unchanged: its subcommands, options, output and
// exit codes (0 ok, 1 invalid or failed, 2 usage or I/O error, 130 interrupted) are that package's.
import { quietExit } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

const eaplog: EcpsCommand = (program, ctx) => {
  program
    .command('eaplog')
    .description('inspect, validate, migrate, convert and replay .eaplog action logs')
    // every argument, --help included, belongs to the eaplog CLI
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[command...]', 'an eaplog subcommand and its arguments (`ecps eaplog --help` lists them)')
    .action(async (args: string[]) => {
      const { runEaplogCli } = await import('@ecps/eaplog'); // loaded on use: `ecps --help` stays fast
      const code = await runEaplogCli(args.length === 0 ? ['--help'] : args, {
        programName: 'ecps eaplog',
        stdout: (text) => ctx.out.write(text),
        stderr: (text) => ctx.out.error(text),
        isTTY: process.stderr.isTTY,
        signal: ctx.interrupted,
      });
      if (code !== 0) throw quietExit(code);
    });
};

export default eaplog;
