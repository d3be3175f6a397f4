// SPDX-License-Identifier: Apache-2.0
// Serving LoggingService (+ health).
import { hostServices } from '@ecps/sw4rm';
import type { CallContext, Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
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
export interface StartLoggingOptions extends HostingOptions {
  /** The append-only file (JSON Lines), or any sink. */
  sink: string | LogSink;
}

/** Starts LoggingService. @throws EcpsError IO_ERROR when the file cannot be opened or the port bound. */
export async function startLogging(options: StartLoggingOptions): Promise<Hosted & { log: EventLog }> {
  const sink = typeof options.sink === 'string' ? new AppendOnlyFileSink(options.sink) : options.sink;
  const log = new EventLog(sink);
  return { log, ...(await hostServices(options, 50053, (s: Sw4rmServer) => addLoggingService(s, log), () => sink.close())) };
}
