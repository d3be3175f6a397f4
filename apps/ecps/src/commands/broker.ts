// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { startBroker } from '@ecps/broker';

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the embedded MQTT 3.1.1 broker until interrupted')
    .option('--port <port>', 'TCP port (0 picks a free one)', '1883')
    .option('--host <host>', 'interface to bind; 0.0.0.0 exposes it to the network', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`invalid --port ${opts.port}`);
      const broker = await startBroker({ port, host: opts.host });
      console.log(`ecps broker: MQTT 3.1.1 on ${broker.url} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await broker.close();
      console.log('ecps broker: stopped');
    });
}
