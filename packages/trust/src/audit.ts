// SPDX-License-Identifier: Apache-2.0
// Audit events of the AUDITED level: who tried to do what, and whether it was allowed.

export interface AuditEvent {
  /** RFC 3339 UTC. */
  readonly time: string;
  /** The node that made the decision. */
  readonly node: string;
  /** The authenticated principal (or the claimed sender when authentication failed). */
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  /** Error code of a denial (`PERMISSION_DENIED`, `SIGNATURE_INVALID`, ...). */
  readonly reason?: string;
  readonly messageId: string;
  readonly messageType: string;
}

/** Where audit events go (a log file, a SIEM, an append-only store). Must not throw for ordinary failures. */
export interface AuditSink {
  write(event: AuditEvent): void | Promise<void>;
}

/** Keeps audit events in memory (tests, dashboards); the oldest are dropped beyond `limit`. */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  constructor(private readonly limit = 10_000) {}
  write(event: AuditEvent): void {
    this.events.push(event);
    if (this.events.length > this.limit) this.events.shift();
  }
}
