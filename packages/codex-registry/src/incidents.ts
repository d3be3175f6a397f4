// SPDX-License-Identifier: Apache-2.0
// Incidents: what went wrong with which bot, kept append-only and queryable from the newest end.
import { open, rename, stat } from 'node:fs/promises';
import { Mutex } from 'async-mutex';
import { cryptoRandom, systemClock, toHex, type Clock, type Logger, type RandomSource } from '@ecps/core';
import { CodexError } from './errors';
import { isoTime } from './model';
import type { CodexEventBus } from './events';

export const INCIDENT_KINDS = [
  'unhealthy', 'restart', 'restart_failed', 'fallback', 'fallback_failed', 'quarantined',
  'exited', 'health_check_failed', 'memory_limit_exceeded', 'cpu_warning', 'reconciled', 'registry_corrupt',
] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

export interface Incident {
  /** `inc-<bot>-<unix ms>-<4 hex>`: unique even for several incidents of one bot within a millisecond. */
  incident_id: string;
  bot_id: string | null;
  bot_name: string | null;
  kind: IncidentKind;
  message: string;
  created_at: string;
  data: Record<string, unknown>;
}

export interface NewIncident {
  bot_id?: string | null;
  bot_name?: string | null;
  kind: IncidentKind;
  message: string;
  data?: Record<string, unknown>;
}

export interface IncidentQuery {
  /** At most this many (default 200, capped at 1000). */
  limit?: number;
  bot_id?: string;
  kind?: IncidentKind;
}

/** Where incidents are kept. `record` is durable before it resolves and then publishes an `incident` event. */
export interface IncidentStore {
  record(incident: NewIncident): Promise<Incident>;
  /** The newest incidents that match, oldest first (newest last). */
  tail(query?: IncidentQuery): Promise<Incident[]>;
  close(): Promise<void>;
}

/** A complete incident record stamped with `clock` and a random suffix. */
export function makeIncident(input: NewIncident, clock: Clock = systemClock, random: RandomSource = cryptoRandom): Incident {
  const ms = Math.floor(clock.now());
  const bot = input.bot_id ?? 'system';
  return {
    incident_id: `inc-${bot}-${ms}-${toHex(random.bytes(2))}`,
    bot_id: input.bot_id ?? null,
    bot_name: input.bot_name ?? null,
    kind: input.kind,
    message: input.message,
    created_at: isoTime(ms),
    data: input.data ?? {},
  };
}

export function incidentLimit(query: IncidentQuery): number {
  return Math.min(1000, Math.max(1, query.limit ?? 200));
}

/**
 * Records an incident about `bot`; a store failure is logged as `<component>: cannot record an incident` and never
 * thrown, so a failing incident log cannot stop the lifecycle step that reported it.
 */
export async function recordIncidentOrLog(
  incidents: IncidentStore,
  logger: Logger,
  component: string,
  bot: { id: string; name: string },
  kind: IncidentKind,
  message: string,
  data: Record<string, unknown>,
): Promise<void> {
  try {
    await incidents.record({ bot_id: bot.id, bot_name: bot.name, kind, message, data });
  } catch (error) {
    logger.error(`${component}: cannot record an incident`, { bot_id: bot.id, kind, error: String(error) });
  }
}

export interface JsonlIncidentLogOptions {
  file: string;
  /** Rotate when the file would grow past this (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept as `.1` … `.N` (default 5). */
  backups?: number;
  events?: CodexEventBus;
  clock?: Clock;
  random?: RandomSource;
}

const TAIL_CHUNK = 64 * 1024;

/**
 * Incidents as JSON lines, appended and fsynced one by one, rotated at `maxBytes` into `.1` … `.5`.
 * `tail` reads backwards from the end, so a query costs what it returns, not the size of the history.
 * Errors: `CodexError` `storage_unavailable` when the file cannot be written.
 */
export class JsonlIncidentLog implements IncidentStore {
  private readonly mutex = new Mutex();
  private readonly maxBytes: number;
  private readonly backups: number;
  private size: number | undefined;

  constructor(private readonly options: JsonlIncidentLogOptions) {
    this.maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
    this.backups = options.backups ?? 5;
  }

  async record(input: NewIncident): Promise<Incident> {
    const incident = makeIncident(input, this.options.clock, this.options.random);
    const line = Buffer.from(JSON.stringify(incident) + '\n');
    await this.mutex.runExclusive(async () => {
      try {
        this.size ??= await fileSize(this.options.file);
        if (this.size > 0 && this.size + line.length > this.maxBytes) await this.rotate();
        const handle = await open(this.options.file, 'a', 0o640);
        try {
          await handle.write(line);
          await handle.sync();
        } finally {
          await handle.close();
        }
        this.size += line.length;
      } catch (cause) {
        this.size = undefined;
        throw new CodexError('storage_unavailable', `cannot write incident log ${this.options.file}`, { cause });
      }
    });
    this.options.events?.publish('incident', { incident });
    return incident;
  }

  async tail(query: IncidentQuery = {}): Promise<Incident[]> {
    const limit = incidentLimit(query);
    const found: Incident[] = [];
    const files = [this.options.file, ...Array.from({ length: this.backups }, (_, i) => `${this.options.file}.${i + 1}`)];
    for (const file of files) {
      for await (const line of linesBackwards(file)) {
        let incident: Incident;
        try {
          incident = JSON.parse(line) as Incident;
        } catch {
          continue; // a line torn by a crash mid-append
        }
        if (query.bot_id !== undefined && incident.bot_id !== query.bot_id) continue;
        if (query.kind !== undefined && incident.kind !== query.kind) continue;
        found.push(incident);
        if (found.length >= limit) return found.reverse();
      }
    }
    return found.reverse();
  }

  async close(): Promise<void> {
    await this.mutex.waitForUnlock();
  }

  private async rotate(): Promise<void> {
    for (let i = this.backups - 1; i >= 1; i--) await rename(`${this.options.file}.${i}`, `${this.options.file}.${i + 1}`).catch(ignoreMissing);
    await rename(this.options.file, `${this.options.file}.1`);
    this.size = 0;
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    ignoreMissing(error);
    return 0;
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

/** The lines of a file from the last to the first, read in chunks from the end. */
async function* linesBackwards(file: string): AsyncGenerator<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    ignoreMissing(error);
    return;
  }
  try {
    let position = (await handle.stat()).size;
    let carry = Buffer.alloc(0);
    while (position > 0) {
      const length = Math.min(TAIL_CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await handle.read(chunk, 0, length, position);
      let buffer = Buffer.concat([chunk, carry]);
      let end = buffer.length;
      for (let i = buffer.length - 1; i >= 0; i--) {
        if (buffer[i] !== 0x0a) continue;
        if (end > i + 1) yield buffer.subarray(i + 1, end).toString('utf8');
        end = i;
      }
      buffer = buffer.subarray(0, end);
      carry = Buffer.from(buffer);
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    await handle.close();
  }
}
