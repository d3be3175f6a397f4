// SPDX-License-Identifier: Apache-2.0
// `ecps broker`: the embedded MQTT 3.1.1 broker until SIGINT/SIGTERM.
import { CliError, describeError, jsonOption, port, untilAborted } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

const broker: EcpsCommand = (program, ctx) => {
  program
    .command('broker')
    .description('run an MQTT 3.1.1 broker until Ctrl-C; prints its URL')
    .option('--port <port>', 'TCP port to listen on; 0 picks a free one', port, 1883)
    .option('--host <host>', 'interface to bind; 0.0.0.0 exposes the broker to the network', '127.0.0.1')
    .addOption(jsonOption())
    .action(async (opts: { port: number; host: string; json?: boolean }) => {
      const { startBroker } = await import('@ecps/broker'); // loaded on use: `ecps --help` stays fast
      const running = await startBroker({ port: opts.port, host: opts.host }).catch((cause: unknown) => {
        throw new CliError('UNAVAILABLE', describeError(cause), { cause, hint: 'Pick another port with --port (0 picks a free one).' });
      });
      if (opts.json) ctx.out.json({ ready: true, url: running.url });
      else ctx.out.line(running.url);
      ctx.out.message(`ecps broker: MQTT 3.1.1 on ${running.url} (Ctrl-C to stop)`);
      await untilAborted(ctx.interrupted);
      await running.close();
      ctx.out.message('ecps broker: stopped');
    });
};

export default broker;
