// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { startBroker } from '@ecps/broker';
import { isEcpsError } from '@ecps/core';

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the embedded MQTT 3.1.1 broker until interrupted')
    .option('--port <port>', 'TCP port (0 picks a free one)', '1883')
    .option('--host <host>', 'interface to bind; anything but loopback (e.g. 0.0.0.0) needs --password-file', '127.0.0.1')
    .option('--password-file <file>', 'admit only the users of this mosquitto_passwd file')
    .action(async (opts: { port: string; host: string; passwordFile?: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`invalid --port ${opts.port}`);
      let broker;
      try {
        broker = await startBroker({ port, host: opts.host, ...(opts.passwordFile ? { passwordFile: opts.passwordFile } : {}) });
      } catch (error) {
        if (!isEcpsError(error, 'CONFIG_INVALID')) throw error;
        console.error(`ecps broker: ${error.message}`);
        process.exitCode = 2; // a usage error: retrying the same command cannot help
        return;
      }
      console.log(`ecps broker: MQTT 3.1.1 on ${broker.url}${opts.passwordFile ? ' (password file)' : ''} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await broker.close();
      console.log('ecps broker: stopped');
    });
}
