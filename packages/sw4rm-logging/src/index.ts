// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-logging.

export { AppendOnlyFileSink, EventLog, LEVELS } from './event-log';
export { addLoggingService, startLogging } from './server';

export type { LogSink } from './event-log';
export type { StartLoggingOptions } from './server';
