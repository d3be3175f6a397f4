// SPDX-License-Identifier: Apache-2.0
// `ecps broker`: the embedded MQTT 3.1.1 broker until SIGINT/SIGTERM.
import { isEcpsError } from '@ecps/core';
import { CliError, describeError, jsonOption, port, untilAborted } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

const broker: EcpsCommand = (program, ctx) => {
  program
    .command('broker')
    .description('run an MQTT 3.1.1 broker until Ctrl-C; prints its URL')
    .option('--port <port>', 'TCP port to listen on; 0 picks a free one', port, 1883)
    .option('--host <host>', 'interface to bind; anything but loopback (e.g. 0.0.0.0) needs --password-file', '127.0.0.1')
    .option('--password-file <file>', 'admit only the users of this mosquitto_passwd file')
    .addOption(jsonOption())
    .action(async (opts: { port: number; host: string; passwordFile?: string; json?: boolean }) => {
      const { startBroker } = await import('@ecps/broker'); // loaded on use: `ecps --help` stays fast
      const running = await startBroker({ port: opts.port, host: opts.host, ...(opts.passwordFile ? { passwordFile: opts.passwordFile } : {}) }).catch(
        (cause: unknown) => {
          // no credentials for a network address, an unreadable password file: a usage error (exit 2), retrying cannot help
          if (isEcpsError(cause, 'CONFIG_INVALID')) throw cause;
          throw new CliError('UNAVAILABLE', describeError(cause), { cause, hint: 'pick another port with --port (0 picks a free one)' });
        },
      );
      if (opts.json) ctx.out.json({ ready: true, url: running.url });
      else ctx.out.line(running.url);
      ctx.out.message(`ecps broker: MQTT 3.1.1 on ${running.url}${opts.passwordFile ? ' (password file)' : ''} (Ctrl-C to stop)`);
      await untilAborted(ctx.interrupted);
      await running.close();
      ctx.out.message('ecps broker: stopped');
    });
};

export default broker;
