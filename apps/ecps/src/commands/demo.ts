// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { runDemo } from '../demo/run-demo';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the main job: nodes of every layer talking over an embedded network')
    .option('--broker <url>', 'use an external MQTT broker instead of the embedded one')
    .action(async (opts: { broker?: string }) => {
      await runDemo(opts.broker ? { broker: opts.broker } : {});
    });
}
