// SPDX-License-Identifier: Apache-2.0
// Hosting the router on a gRPC port with health, and the SIGTERM/SIGINT drain sequence.
import type { Logger } from '@ecps/core';
import { Sw4rmServer } from '@ecps/sw4rm';
import type { Sw4rmServerOptions } from '@ecps/sw4rm';
import type { RouterOptions } from './router';
import { Sw4rmRouter } from './router';
import { RAW_ROUTER_SERVICE } from './wire';

/** Options of {@link startRouter}. */
export interface StartRouterOptions extends RouterOptions, Sw4rmServerOptions {
  /** Bind host; default `SW4RM_BIND_HOST` semantics are the caller's: here `127.0.0.1`. */
  host?: string;
  /** 0 = ephemeral. Default 50051. */
  port?: number;
  /** Host the router on an existing server (e.g. `ecps hub`) instead of a new one; the caller binds it. */
  server?: Sw4rmServer;
}

/** A running router. */
export interface RunningRouter {
  router: Sw4rmRouter;
  server: Sw4rmServer;
  port: number;
  /** Drain (refuse sends, health NOT_SERVING, streams end after the grace) then shut the server down. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Opens the store and serves RouterService (+ health) on `host:port`.
 * @throws EcpsError IO_ERROR when the store cannot be opened or the port cannot be bound.
 */
export async function startRouter(options: StartRouterOptions = {}): Promise<RunningRouter> {
  const { host = '127.0.0.1', port = 50051, server: shared, tls, auth, ...routerOptions } = options;
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  const router = await Sw4rmRouter.open(routerOptions);
  server.addService('sw4rm.router.RouterService', RAW_ROUTER_SERVICE, router.grpcImplementation(server.auth));
  let bound = 0;
  try {
    bound = shared ? shared.port : await server.bind(host, port);
  } catch (err) {
    await router.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    router,
    server,
    port: bound,
    stop(graceMs?: number) {
      stopping ??= (async () => {
        server.setServing(false);
        await router.drain(graceMs);
        if (!shared) await server.shutdown(1000);
      })();
      return stopping;
    },
  };
}

/**
 * First SIGTERM/SIGINT drains with the configured grace, a second one skips it; then `onExit(0)`.
 */
export function handleSignals(running: RunningRouter, logger: Logger, onExit: (code: number) => void = (c) => process.exit(c)): void {
  let signals = 0;
  const handler = (sig: NodeJS.Signals) => {
    signals++;
    logger.info('router draining', { signal: sig, skipGrace: signals > 1 });
    const stop = signals > 1 ? running.router.close().then(() => running.server.shutdown(0)) : running.stop();
    stop.then(
      () => onExit(0),
      () => onExit(0),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
