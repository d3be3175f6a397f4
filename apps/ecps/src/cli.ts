// SPDX-License-Identifier: Apache-2.0
// The `ecps` command.
import { Command } from 'commander';
import { registerBroker } from './commands/broker';
import { registerCodex } from './commands/codex';
import { registerDemo } from './commands/demo';
import { registerEaplog } from './commands/eaplog';
import { registerHub } from './commands/hub';
import { registerInit } from './commands/init';
import { registerNode } from './commands/node';
import { registerPeat } from './commands/peat';

const program = new Command('ecps')
  .description('ECPS: the Embodied Cognition Protocol Stack')
  .version('0.1.0')
  .showHelpAfterError()
  .enablePositionalOptions();

registerDemo(program);
registerBroker(program);
registerEaplog(program);
registerHub(program);
registerCodex(program);
registerNode(program);
registerInit(program);
registerPeat(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`ecps: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
