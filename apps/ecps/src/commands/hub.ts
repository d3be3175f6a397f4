// SPDX-License-Identifier: Apache-2.0
// `ecps hub`: the SW4RM router, registry and scheduler (with the coordination services) until SIGINT/SIGTERM.
import { isEcpsError } from '@ecps/core';
import type { Logger } from '@ecps/core';
import type { HubOptions } from '../hub/start-hub';
import { CliError, describeError, jsonOption, port, untilAborted } from '../kit/index';
import type { EcpsCommand, Output } from '../kit/index';

const stderrLogger = (out: Output): Logger => {
  const line = (level: string) => (m: string, f?: Record<string, unknown>) => out.message(`${level} ${m}${f ? ` ${JSON.stringify(f)}` : ''}`);
  return { debug: () => undefined, info: line('INFO '), warn: line('WARN '), error: line('ERROR') };
};

interface HubFlags {
  host?: string;
  routerPort?: number;
  registryPort?: number;
  schedulerPort?: number;
  db?: string;
  schedulerInbox: boolean;
  json?: boolean;
}

const hub: EcpsCommand = (program, ctx) => {
  program
    .command('hub')
    .description('run the SW4RM router, registry and scheduler until Ctrl-C; prints their addresses')
    .option('--host <host>', 'address to bind (default: $SW4RM_BIND_HOST, else 127.0.0.1)')
    .option('--router-port <port>', 'router port (default: $ROUTER_PORT, else 50051; 0 picks a free one)', port)
    .option('--registry-port <port>', 'registry port (default: $REGISTRY_PORT, else 50052; 0 picks a free one)', port)
    .option('--scheduler-port <port>', 'scheduler and coordination services port (default: $SCHEDULER_PORT, else 50053; 0 picks a free one)', port)
    .option('--db <path>', 'router store, created if missing (default: $SW4RM_ROUTER_DB, else ./sw4rm-router.sqlite3)')
    .option('--no-scheduler-inbox', 'do not subscribe the scheduler to the router (it then gets no agent reports)')
    .addOption(jsonOption())
    .action(async (opts: HubFlags) => {
      const logger = stderrLogger(ctx.out);
      const options: HubOptions = { schedulerInbox: opts.schedulerInbox, logger };
      if (opts.host !== undefined) options.host = opts.host;
      if (opts.routerPort !== undefined) options.routerPort = opts.routerPort;
      if (opts.registryPort !== undefined) options.registryPort = opts.registryPort;
      if (opts.schedulerPort !== undefined) options.schedulerPort = opts.schedulerPort;
      if (opts.db !== undefined) options.dbPath = opts.db;
      const { startHub } = await import('../hub/start-hub'); // loaded on use: `ecps --help` stays fast
      const running = await startHub(options).catch((cause: unknown) => {
        if (isEcpsError(cause, 'CONFIG_INVALID')) throw cause; // a bad $ROUTER_PORT and the like: a usage error
        throw new CliError('UNAVAILABLE', describeError(cause), { cause, hint: 'pick other ports with --router-port, --registry-port and --scheduler-port (0 picks free ones)' });
      });
      const { host, ports } = running;
      if (opts.json) ctx.out.json({ ready: true, host, ...ports });
      else for (const [name, p] of Object.entries(ports)) ctx.out.line(`${name.padEnd(9)} ${host}:${p}`);
      ctx.out.message('ecps hub: serving (Ctrl-C drains the router and stops; a second Ctrl-C skips the drain)');
      await untilAborted(ctx.interrupted);
      logger.info('hub shutting down');
      // a second signal ends the drain at once
      const skipDrain = () => void running.router.router.close().catch(() => undefined);
      ctx.forced.addEventListener('abort', skipDrain, { once: true });
      await running.stop();
      ctx.out.message('ecps hub: stopped');
    });
};

export default hub;
