// SPDX-License-Identifier: Apache-2.0
// The `ecps` executable: every command of ./commands.
import { commands } from './commands/index';
import { runProcess } from './run';

void runProcess(process.argv.slice(2), commands);
