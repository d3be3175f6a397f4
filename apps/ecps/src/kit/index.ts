// SPDX-License-Identifier: Apache-2.0
// What a command file under src/commands/ imports.
export { CliError, ExitCode, describeError, exitCodeFor, quietExit, usageError } from './errors';
export { decimal, integer, jsonOption, parseDecimal, parseInteger, port } from './options';
export { Output } from './output';
export { stderrLogger } from './logger';
export { applyConventions, commandPath } from './conventions';
export { untilAborted } from './signals';

export type { CommandContext, EcpsCommand } from './command';
