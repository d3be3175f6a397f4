// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import type { Logger } from '@ecps/core';
import { startHub } from '../hub/start-hub';

const stderr: Logger = {
  debug: () => undefined,
  info: (m, f) => console.error(`INFO  ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  warn: (m, f) => console.error(`WARN  ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  error: (m, f) => console.error(`ERROR ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
};

export function registerHub(program: Command): void {
  program
    .command('hub')
    .description('run the SW4RM router (50051), registry (50052) and scheduler + coordination services (50053)')
    .option('--host <host>', 'bind address (default SW4RM_BIND_HOST or 127.0.0.1)')
    .option('--router-port <n>', 'router port (default ROUTER_PORT or 50051)', Number)
    .option('--registry-port <n>', 'registry port (default REGISTRY_PORT or 50052)', Number)
    .option('--scheduler-port <n>', 'scheduler port (default SCHEDULER_PORT or 50053)', Number)
    .option('--db <path>', 'router store (default SW4RM_ROUTER_DB or ./sw4rm-router.sqlite3)')
    .option('--no-scheduler-inbox', 'do not subscribe the scheduler to the router (no agent reports)')
    .action(async (opts: { host?: string; routerPort?: number; registryPort?: number; schedulerPort?: number; db?: string; schedulerInbox: boolean }) => {
      const hub = await startHub({
        ...(opts.host ? { host: opts.host } : {}),
        ...(opts.routerPort !== undefined ? { routerPort: opts.routerPort } : {}),
        ...(opts.registryPort !== undefined ? { registryPort: opts.registryPort } : {}),
        ...(opts.schedulerPort !== undefined ? { schedulerPort: opts.schedulerPort } : {}),
        ...(opts.db ? { dbPath: opts.db } : {}),
        schedulerInbox: opts.schedulerInbox,
        logger: stderr,
      });
      console.log(JSON.stringify({ ready: true, ...hub.ports }));
      let signals = 0;
      const shutdown = (signal: string) => {
        signals++;
        stderr.info('hub shutting down', { signal });
        const stopping = signals > 1 ? hub.router.router.close() : hub.stop();
        stopping.then(
          () => process.exit(0),
          () => process.exit(0),
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });
}
