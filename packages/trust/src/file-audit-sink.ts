// SPDX-License-Identifier: Apache-2.0
// Audit events appended to a file, one JSON object a line. Each write is a synchronous O_APPEND write: nothing is
// queued in memory whatever the message rate, records keep their order, and a record is in the file (the OS's page
// cache) before the message it judges is handed on.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { AuditEvent, AuditSink } from './audit';
import { TrustError } from './errors';

/**
 * An {@link AuditSink} that appends JSON lines to `path` (created with mode 0600 when absent, appended to otherwise).
 * @throws TrustError `IO_ERROR` from the constructor when the file cannot be opened, and from `write` when the
 *   append fails or the sink is closed (the secure transport reports a failing sink to its logger).
 */
export class FileAuditSink implements AuditSink {
  private fd: number | undefined;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'a', 0o600);
    } catch (cause) {
      throw new TrustError('IO_ERROR', `cannot open audit log ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  write(event: AuditEvent): void {
    if (this.fd === undefined) throw new TrustError('IO_ERROR', `audit log ${this.path} is closed`);
    try {
      writeSync(this.fd, `${JSON.stringify(event)}\n`);
    } catch (cause) {
      throw new TrustError('IO_ERROR', `cannot append to audit log ${this.path}: ${(cause as Error).message}`, { cause });
    }
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
