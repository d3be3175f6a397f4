// SPDX-License-Identifier: Apache-2.0
// Serving LoggingService (+ health).
import { Sw4rmServer } from '@ecps/sw4rm';
import type { CallContext, Sw4rmServerOptions } from '@ecps/sw4rm';
import { LoggingServiceService } from '@ecps/sw4rm/proto';
import type { LogSink } from './event-log';
import { AppendOnlyFileSink, EventLog } from './event-log';

/** Adds LoggingService to `server`. */
export function addLoggingService(server: Sw4rmServer, log: EventLog): void {
  server.addUnaryService('sw4rm.logging.LoggingService', LoggingServiceService, {
    ingest: (q: never, c: CallContext) => log.ingest(q, c.identity, c.auth),
  });
}

/** Options of {@link startLogging}. */
export interface StartLoggingOptions extends Sw4rmServerOptions {
  /** The append-only file (JSON Lines), or any sink. */
  sink: string | LogSink;
  host?: string;
  /** 0 = ephemeral; default 50053. */
  port?: number;
  server?: Sw4rmServer;
}

/** Starts LoggingService. @throws EcpsError IO_ERROR when the file cannot be opened or the port bound. */
export async function startLogging(options: StartLoggingOptions): Promise<{ log: EventLog; server: Sw4rmServer; port: number; stop(): Promise<void> }> {
  const { host = '127.0.0.1', port = 50053, server: shared, tls, auth } = options;
  const sink = typeof options.sink === 'string' ? new AppendOnlyFileSink(options.sink) : options.sink;
  const log = new EventLog(sink);
  const server = shared ?? new Sw4rmServer({ ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) });
  addLoggingService(server, log);
  const bound = shared ? shared.port : await server.bind(host, port);
  return {
    log,
    server,
    port: bound,
    async stop() {
      server.setServing(false);
      if (!shared) await server.shutdown(1000);
      await sink.close();
    },
  };
}
