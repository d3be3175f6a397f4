// SPDX-License-Identifier: Apache-2.0
// LoggingService (spec §3.14): Ingest validates `level` (INFO, WARN, ERROR) and that `details_json` parses, then
// appends one JSON line to an append-only file. Lines are written in arrival order and fsync'd in groups; `ok`
// is answered only once the line is on disk. The pending queue is bounded (RESOURCE_EXHAUSTED beyond it).
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import type { Logger } from '@ecps/core';
import { EcpsError, silentLogger } from '@ecps/core';
import { NO_AUTH, timestampToMs } from '@ecps/sw4rm';
import type { Authenticator } from '@ecps/sw4rm';
import type { IngestResponse, LogEvent } from '@ecps/sw4rm/proto';

/** Where accepted events go; the default is {@link AppendOnlyFileSink}. */
export interface LogSink {
  /** Appends one line durably. @throws EcpsError IO_ERROR, RESOURCE_EXHAUSTED. */
  append(line: string): Promise<void>;
  close(): Promise<void>;
}

export const LEVELS = ['INFO', 'WARN', 'ERROR'] as const;

/** An append-only JSON Lines file with grouped fdatasync. */
export class AppendOnlyFileSink implements LogSink {
  private readonly fd: number;
  private queue: { line: string; resolve(): void; reject(e: unknown): void }[] = [];
  private flushing = false;
  private closed = false;

  /** Opens (creating) `path` for appending. @throws EcpsError IO_ERROR. */
  constructor(
    readonly path: string,
    private readonly maxPending = 10_000,
  ) {
    try {
      this.fd = openSync(path, 'a', 0o600);
    } catch (err) {
      throw new EcpsError('IO_ERROR', `cannot open ${path}: ${String(err)}`, { cause: err });
    }
  }

  append(line: string): Promise<void> {
    if (this.closed) return Promise.reject(new EcpsError('IO_ERROR', `${this.path} is closed`));
    if (this.queue.length >= this.maxPending) return Promise.reject(new EcpsError('RESOURCE_EXHAUSTED', `more than ${this.maxPending} events waiting for disk`));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      if (!this.flushing) setImmediate(() => this.flush());
      this.flushing = true;
    });
  }

  async close(): Promise<void> {
    while (this.flushing) await new Promise((r) => setImmediate(r));
    if (!this.closed) closeSync(this.fd);
    this.closed = true;
  }

  private flush(): void {
    const group = this.queue;
    this.queue = [];
    try {
      writeSync(this.fd, group.map((g) => `${g.line}\n`).join(''));
      fdatasyncSync(this.fd);
      for (const g of group) g.resolve();
    } catch (err) {
      const e = new EcpsError('IO_ERROR', `cannot append to ${this.path}: ${String(err)}`, { cause: err });
      for (const g of group) g.reject(e);
    }
    if (this.queue.length) setImmediate(() => this.flush());
    else this.flushing = false;
  }
}

/** Ingest semantics over a sink. */
export class EventLog {
  private readonly logger: Logger;

  constructor(
    private readonly sink: LogSink,
    logger?: Logger,
  ) {
    this.logger = logger ?? silentLogger;
  }

  /** Ingest: `ok=false` for an unknown level or details that are not JSON; else appended durably. @throws EcpsError PERMISSION_DENIED (another agent's events), IO_ERROR. */
  async ingest(event: LogEvent, identity?: string, auth: Authenticator = NO_AUTH): Promise<IngestResponse> {
    if (event.agentId) auth.authorize(identity, event.agentId, 'log events');
    if (!(LEVELS as readonly string[]).includes(event.level)) return { ok: false };
    let details: unknown = null;
    if (event.detailsJson) {
      try {
        details = JSON.parse(event.detailsJson) as unknown;
      } catch {
        return { ok: false };
      }
    }
    const line = {
      ts: event.ts ? new Date(timestampToMs(event.ts)).toISOString() : new Date().toISOString(),
      level: event.level,
      event_type: event.eventType,
      agent_id: event.agentId,
      correlation_id: event.correlationId,
      ...(identity !== undefined ? { identity } : {}),
      details,
    };
    await this.sink.append(JSON.stringify(line));
    if (event.level === 'ERROR') this.logger.warn('agent reported an error event', { agentId: event.agentId, eventType: event.eventType });
    return { ok: true };
  }
}
