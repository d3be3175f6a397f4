// SPDX-License-Identifier: Apache-2.0
// The `ecps` executable.
import { runProcess } from './run';

void runProcess(process.argv.slice(2));
