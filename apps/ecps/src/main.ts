// SPDX-License-Identifier: Apache-2.0
// The `ecps` program: the given commands under one set of conventions, run once, turned into an exit code.
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode, applyConventions, commandPath, describeError, exitCodeFor } from './kit/index';
import type { CommandContext, EcpsCommand } from './kit/index';
// bundled in at build time (also into the CommonJS bundles tests make, where import.meta.url is unavailable)
import { version } from '../package.json';


/** The whole command tree, conventions applied. */
export function createProgram(ctx: CommandContext, commands: readonly EcpsCommand[]): Command {
  const program = new Command('ecps')
    .description('the command line of ECPS, the Embodied Cognition Protocol Stack')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help for a command')
    .helpCommand('help [command]', 'print help for a command')
    .enablePositionalOptions()
    .addHelpText(
      'after',
      '\nData goes to stdout, messages to stderr. Exit codes: 0 ok, 1 the operation failed, 2 usage error, 130 interrupted.\n' +
        "Run 'ecps help <command>' (or 'ecps <command> --help') for a command's options.",
    );
  for (const register of commands) register(program, ctx);
  applyConventions(program, ctx.out);
  return program;
}

/**
 * Runs `ecps <argv>` and returns its exit code. Never throws and never calls process.exit: usage errors and
 * expected failures are printed as one line (plus a hint) on stderr, without a stack trace.
 */
export async function runCli(argv: readonly string[], ctx: CommandContext, commands: readonly EcpsCommand[]): Promise<number> {
  const program = createProgram(ctx, commands);
  let active: Command = program;
  program.hook('preAction', (_root, actionCommand) => {
    active = actionCommand;
  });
  const args = helpAsFlag(program, argv);
  const { command, rest } = resolve(program, args);
  if (rest.length === 0 && command.commands.length > 0) {
    // `ecps`, or a command group without its subcommand: help, on stdout, exit 0
    command.outputHelp();
    return ExitCode.OK;
  }
  try {
    await program.parseAsync(args, { from: 'user' });
    return ExitCode.OK;
  } catch (error) {
    // commander already printed its usage error with the hint; help and --version end here too
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    if (ctx.out.closed.aborted) return ExitCode.OK; // the reader of stdout went away: nothing left to say
    const code = exitCodeFor(error);
    const message = describeError(error);
    if (message !== '') {
      const where = commandPath(active);
      ctx.out.message(`${where}: ${message}`);
      const hint = error instanceof CliError ? error.hint : undefined;
      if (hint !== undefined) ctx.out.message(`hint: ${hint}`);
      else if (code === ExitCode.USAGE) ctx.out.message(`hint: see '${where} --help'`);
      if (!(error instanceof CliError) && process.env['ECPS_DEBUG'] && error instanceof Error) ctx.out.message(String(error.stack));
    }
    return code;
  }
}

/** `ecps help a b` is `ecps a b --help`, at any depth, so the help shown is the command's own (eaplog's included). */
function helpAsFlag(program: Command, argv: readonly string[]): string[] {
  let command = program;
  for (const [i, token] of argv.entries()) {
    if (token === 'help' && command.commands.length > 0 && !findSubcommand(command, token)) {
      return [...argv.slice(0, i), ...argv.slice(i + 1), '--help'];
    }
    const sub = findSubcommand(command, token);
    if (!sub) break;
    command = sub;
  }
  return [...argv];
}

/** The deepest command named by the leading arguments, and the arguments after it. */
function resolve(program: Command, argv: readonly string[]): { command: Command; rest: string[] } {
  let command = program;
  let i = 0;
  for (; i < argv.length; i++) {
    const sub = findSubcommand(command, argv[i]!);
    if (!sub) break;
    command = sub;
  }
  return { command, rest: argv.slice(i) };
}

const findSubcommand = (command: Command, name: string): Command | undefined =>
  command.commands.find((c) => c.name() === name || c.aliases().includes(name));
